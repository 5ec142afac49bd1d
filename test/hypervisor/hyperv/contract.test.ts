import { runDriverContract } from '../contract';
import { makeMockHost } from './mock-fixture';

// The shared driver contract, run against the real Hyper-V driver path:
// TypeScript -> node-powershell -> pwsh -> ps/*.ps1 -> mock Hyper-V module (state in a temp folder).
runDriverContract('hyperv (mock Hyper-V module on pwsh)', (o) => makeMockHost(o));
