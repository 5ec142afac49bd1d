import type { StatusDocument } from './documents';
import type { MaintenanceStatus } from './maintenance-documents';

/** The status document with the maintenance flags and the last drain (docs/cluster.md "Maintenance"). */
export function withMaintenance(doc: StatusDocument, maintenance: MaintenanceStatus): StatusDocument {
  return { ...doc, Maintenance: maintenance };
}
