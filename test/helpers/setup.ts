import { baseSeed } from './seed';

// Printed once per run: re-run with VMMIRROR_TEST_SEED to replay every random choice.
process.stderr.write(`vmmirror tests: seed ${baseSeed} (replay with VMMIRROR_TEST_SEED=${baseSeed})\n`);
process.env.VMMIRROR_LOG_LEVEL ??= 'silent';
