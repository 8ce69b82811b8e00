import { Command } from 'commander';
import { bundleServerCommand } from './dev-bundle-server.ts';
import { clusterCommand } from './dev-cluster.ts';
import { controlPlaneCommand } from './dev-control-plane.ts';
import { signCommand } from './dev-sign.ts';
import type { Io } from './io.ts';

/**
 * `kubiya-runner dev …`: local development commands. Each subcommand (its options, help and
 * action) lives in its own module: dev-cluster.ts, dev-sign.ts, dev-bundle-server.ts,
 * dev-control-plane.ts.
 */
export function devCommands(io: Io): Command {
  return new Command('dev')
    .description('local development: control plane, signing')
    .addCommand(clusterCommand(io))
    .addCommand(signCommand(io))
    .addCommand(bundleServerCommand(io))
    .addCommand(controlPlaneCommand(io));
}
