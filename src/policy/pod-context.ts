import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { PodContext } from '../pod/build.ts';

/** A minimal runner configuration: only what the schema requires; everything else its defaults. */
const MINIMAL_CONFIG =
  'runner: { name: eval }\ncontrolPlane: { issuer: "https://eval.invalid", jwksFile: /dev/null }\npolicy: { bundle: /dev/null }\naudit: { dir: /dev/null }\n';

/** The configuration defaults `serve` would run with (runner name "eval"). */
export function defaultRunnerConfig(): Config {
  const config = loadConfig(MINIMAL_CONFIG, {});
  if (!config.ok) throw new Error(`the configuration defaults do not load: ${config.error.message}`);
  return config.value;
}

/**
 * The pod context `serve` uses for a configuration (src/app/server.ts): runner name, namespace,
 * service account, default timeout, workspace size and runner.workflow.defaultResources, so a
 * pod built here for `policy eval`, a fixture or a replay is the pod the runner would build.
 */
export function podContextOf(config: Config): PodContext {
  const w = config.runner.workflow;
  return {
    runner: config.runner.name,
    namespace: w.namespace,
    serviceAccount: w.serviceAccount,
    defaultTimeoutSeconds: w.defaultTimeout,
    workspaceSize: config.runner.storage.workspaceSize,
    defaultResources: w.defaultResources,
  };
}
