import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror config validate`: declared here (light); the config schemas load only when it runs.
export const registerConfig: CommandRegistrar = (program, run) => {
  const config = program.command('config').description('inspect the configuration files');
  withExamples(config, [['vmmirror config validate', 'check every configuration file of this host']]);
  const validate = config
    .command('validate')
    .description('check cluster.json, host.json and every module file; list all problems (exit 3 when invalid)')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .action((opts: import('../commands/config').ConfigValidateOptions) =>
      run(() => (require('../commands/config') as typeof import('../commands/config')).runConfigValidate(opts)),
    );
  withExamples(validate, [
    ['vmmirror config validate', 'list every problem of the default config folder (exit 3 when invalid)'],
    ['vmmirror config validate --dir C:\\vmmirror --json | ConvertFrom-Json', 'from PowerShell: an object with Valid and Problems'],
  ]);
};
