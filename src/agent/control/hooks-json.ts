import type { HookFailure } from '../cluster/effects';
import type { StatusDocument } from './documents';

// The status field of a module's last failed hook (docs/hooks.md, "What an outcome means").

/** The status document with each module's last failed hook (null: none, or a later run of it passed). */
export function withLastHookFailure(doc: StatusDocument, failures: ReadonlyMap<string, HookFailure>): StatusDocument {
  return {
    ...doc,
    Modules: doc.Modules.map((m) => {
      const f = failures.get(m.Name);
      return { ...m, LastHookFailure: f === undefined ? null : { ...f.report, Reason: f.reason, At: f.at.toISOString() } };
    }),
  };
}
