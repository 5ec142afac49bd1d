import { z } from 'zod';
import { defineRequest } from '../../peer';
import { DrainDocument } from '../control/maintenance-documents';

/**
 * Either host -> the host named in `vmmirror drain <host>` / `vmmirror resume <host>` when that is
 * the peer: the peer drains (or resumes) itself, since only the owner of a VM can hand it over,
 * and answers with its report. Nothing in the body names a host: the receiver acts on itself.
 */
export const MaintenanceAsk = defineRequest(
  'maintenance.ask',
  z.object({ action: z.enum(['drain', 'resume']), whatIf: z.boolean() }).strict(),
  DrainDocument,
);
