import { readFileSync } from 'node:fs';

/** The built-in ruleset ships as a rules file beside this module (copied into dist by the build). */
const BUILTIN_FILE = new URL('./builtin.rules.json', import.meta.url);

let text: string | undefined;

/**
 * The built-in ruleset's file text, exactly as it ships: what `rules show --builtin` prints, and a
 * rules file a user may copy and edit. Read once per process, on first use (10 KB).
 */
export function builtinRulesetText(): string {
  text ??= readFileSync(BUILTIN_FILE, 'utf8');
  return text;
}
