/**
 * Declarations of command-line options, as data: stages and commands declare the flags they take;
 * the command table parses argv against them (and nothing else does). A flag's value reaches the
 * code under its camelCased name (`--include-partial` → `includePartial`).
 */

export type OptionKind =
  /** A switch: present or not. */
  | 'boolean'
  | 'string'
  /** A file or folder, resolved against the working folder. */
  | 'path'
  /** Bytes: `65536`, `64KiB`, `64MiB`, `1MB`, `2GB`. */
  | 'size'
  /** A positive integer. */
  | 'count'
  /** A non-negative integer (a 0-based index). */
  | 'index'
  /** A non-negative number. */
  | 'number'
  /** An ISO-8601 timestamp. */
  | 'timestamp'
  /** One of `choices`. */
  | 'choice';

export interface OptionSpec {
  readonly kind: OptionKind;
  readonly help: string;
  /** The value's name in usage text (`--out FILE`). */
  readonly placeholder?: string;
  readonly choices?: readonly string[];
  /** A one-letter alias (`-k`). */
  readonly short?: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

type ValueOf<S extends OptionSpec> = S['kind'] extends 'boolean'
  ? boolean
  : S['kind'] extends 'size' | 'count' | 'index' | 'number'
    ? number | undefined
    : S extends { choices: readonly (infer C)[] }
      ? C | undefined
      : string | undefined;

/** The parsed values of a table's flags, by camelCased name; absent flags are undefined (booleans false). */
export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T & string as CamelCase<K>]: ValueOf<T[K]> };

export const camelCase = (flag: string): string => flag.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

/** An option of one kind, its kind kept literal so its value's type can be inferred. */
export type Option<K extends OptionKind> = OptionSpec & { readonly kind: K };

export const option = <K extends OptionKind>(kind: K, placeholder: string, help: string, extra: Omit<Partial<OptionSpec>, 'kind'> = {}): Option<K> => ({ ...extra, kind, placeholder, help });
export const flag = (help: string, extra: Omit<Partial<OptionSpec>, 'kind'> = {}): Option<'boolean'> => ({ ...extra, kind: 'boolean', help });
export const choice = <C extends string>(choices: readonly C[], placeholder: string, help: string): Option<'choice'> & { readonly choices: readonly C[] } => ({
  kind: 'choice',
  placeholder,
  choices,
  help,
});
