import { runDriverContract } from '../contract';
import { makeSimFixture } from './fixture';

describe('src/hypervisor/simulated/driver', () => {
  runDriverContract('simulated', makeSimFixture);
});
