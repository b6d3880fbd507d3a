import { EXPORT_STAGES, STAGES } from '../stages/registry.js';
import type { Command } from './command.js';
import { exportAllCommand } from './commands/export-all.js';
import { healthCommand, indexCommand, readCommand, reportCommand } from './commands/inspect.js';
import { runAllCommand } from './commands/run-all.js';
import { stageCommand } from './commands/stage.js';
import { runsCommand, verifyCommand } from './commands/verify.js';
import { RULES_COMMANDS } from './commands/rules.js';
import { mergeCommand, planCommand, shardCommand } from './commands/shards.js';
import { VECTORS_COMMANDS } from './commands/vectors.js';

/** The command table: every command, once. The stages' commands come from the stage registry. */
export const COMMANDS: readonly Command[] = [
  ...EXPORT_STAGES.map(stageCommand),
  exportAllCommand,
  ...STAGES.filter((stage) => !EXPORT_STAGES.includes(stage as never)).map(stageCommand),
  runAllCommand,
  readCommand,
  runsCommand,
  verifyCommand,
  reportCommand,
  healthCommand,
  indexCommand,
  planCommand,
  shardCommand,
  mergeCommand,
  ...RULES_COMMANDS,
  ...VECTORS_COMMANDS,
];

export const commandNamed = (name: string): Command | undefined => COMMANDS.find((command) => command.name === name);
