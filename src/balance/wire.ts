import { z } from 'zod';
import { defineRequest } from '../peer';

/**
 * Peer-link request of `vmmirror balance --apply` (docs/balance.md, Applying): "rewrite your
 * module files for the plan with this id", or undo that rewrite. Only the id travels: the peer
 * recomputes the plan from its own module files and VMs and refuses (BALANCE_PLAN_CHANGED) when
 * its id differs, so nothing from the wire picks a module, a host or a path.
 */
export const BalanceRewrite = defineRequest(
  'balance.rewrite',
  z.object({ planId: z.string().regex(/^[0-9a-f]{16}$/), undo: z.boolean() }).strict(),
  z.object({ rewritten: z.array(z.string().max(63)).max(10_000) }).strict(),
);
