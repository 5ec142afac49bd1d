import { z } from 'zod';
import { Name } from './common';

// host.json: this host only (written by `vmmirror init`, never copied to the peer).

export const HostLocalFile = z
  .object({
    $schema: z.string().optional(),
    HostName: Name.describe('which entry of cluster.json Hosts is this machine'),
    KeyPath: z.string().min(1).describe('private key (PEM), owner-only permissions'),
    CertificatePath: z.string().min(1).describe('self-signed certificate (PEM)'),
    TokenPath: z.string().min(1).describe('local control API token, owner-only permissions'),
  })
  .strict();
export type HostLocalFile = z.infer<typeof HostLocalFile>;
