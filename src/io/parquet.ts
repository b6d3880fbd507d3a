import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { DistillError } from '../errors.js';

/**
 * A column's type, as a view declares it: a leaf (`text` is a string too long to be worth
 * statistics), optional with `?`, a list of one type, or a struct of named fields. Structs and
 * lists are required: a row always has them, even empty.
 */
export type Leaf = 'string' | 'text' | 'int32' | 'int64' | 'bool';
export type ColumnType = Leaf | `${Leaf}?` | readonly [ColumnType] | { readonly [field: string]: ColumnType };
/** The columns of a view, in the order the record writes its fields. */
export type ColumnShape = { readonly [column: string]: ColumnType };

/**
 * A row group closes at whichever comes first. hyparquet-writer encodes a group whole, so these
 * bound the memory: `sft --out x.parquet` on the 256 MB bench archive peaks at 190 MB private
 * memory with 4 Mi characters per group (81 MB writing JSONL), and at 289 MB with 16 Mi.
 */
export const ROW_GROUP_ROWS = 10_000;
export const ROW_GROUP_CHARS = 4 << 20;

const PHYSICAL: Readonly<Record<Leaf, Pick<SchemaElement, 'type' | 'converted_type'>>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  text: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  int32: { type: 'INT32' },
  int64: { type: 'INT64' },
  bool: { type: 'BOOLEAN' },
};

const leafOf = (type: string): { leaf: Leaf; optional: boolean } => ({ leaf: type.replace(/\?$/, '') as Leaf, optional: type.endsWith('?') });

/** The Parquet schema elements of one column, depth first (lists in the standard three-level form). */
function schemaOf(name: string, type: ColumnType): SchemaElement[] {
  if (typeof type === 'string') {
    const { leaf, optional } = leafOf(type);
    return [{ name, ...PHYSICAL[leaf], repetition_type: optional ? 'OPTIONAL' : 'REQUIRED' }];
  }
  if (Array.isArray(type)) {
    const element = schemaOf('element', (type as readonly [ColumnType])[0]);
    return [{ name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 }, { name: 'list', repetition_type: 'REPEATED', num_children: 1 }, ...element];
  }
  const fields = Object.entries(type as { readonly [field: string]: ColumnType });
  return [{ name, repetition_type: 'REQUIRED', num_children: fields.length }, ...fields.flatMap(([field, fieldType]) => schemaOf(field, fieldType))];
}

type Convert = (value: unknown) => unknown;

/**
 * How a JSON value becomes what the writer takes for `type`, built once per column: 64-bit
 * integers as bigint, absent optional values as null; types with no int64 inside pass as they are.
 */
function converterOf(type: ColumnType): Convert | undefined {
  if (typeof type === 'string') {
    const { leaf, optional } = leafOf(type);
    if (leaf === 'int64') return optional ? (value) => (value === undefined || value === null ? null : BigInt(value as number)) : (value) => BigInt(value as number);
    return optional ? (value) => value ?? null : undefined;
  }
  if (Array.isArray(type)) {
    const element = converterOf((type as readonly [ColumnType])[0]);
    return element === undefined ? undefined : (value) => (value as unknown[]).map(element);
  }
  const fields = Object.entries(type as { readonly [field: string]: ColumnType }).map(([field, fieldType]) => [field, converterOf(fieldType)] as const);
  if (fields.every(([, convert]) => convert === undefined)) return undefined;
  return (value) => {
    const record = value as Record<string, unknown>;
    const converted: Record<string, unknown> = { ...record };
    for (const [field, convert] of fields) if (convert !== undefined) converted[field] = convert(record[field]);
    return converted;
  };
}

const holdsText = (type: ColumnType): boolean =>
  typeof type === 'string' ? leafOf(type).leaf === 'text' : Array.isArray(type) ? holdsText((type as readonly [ColumnType])[0]) : Object.values(type).some(holdsText);

interface Column {
  name: string;
  convert: Convert | undefined;
  /** Min/max statistics are kept for short values only: a text's are 16-byte cuts that help no reader. */
  statistics: boolean;
}

/** hyparquet-writer's byte buffer, handed on after each row group and at the end instead of held. */
class PushingWriter extends ByteWriter {
  constructor(private readonly onBytes: (bytes: Buffer) => void) {
    super(1 << 20);
  }

  flush(): void {
    if (this.index === 0) return;
    this.onBytes(Buffer.from(this.getBytes())); // a copy: the buffer is reused from offset 0
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }
}

/**
 * JSONL rows in, one Parquet file out, streamed a row group at a time: each row's fields become the
 * typed columns its view declares (nested records as structs, arrays as lists). A row that does not
 * fit the declared columns is a bug in the view, reported as DS_INTERNAL.
 */
export class ParquetEncoder extends Transform {
  private readonly columns: Column[];
  private readonly writer: ParquetWriter;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private rows: Array<Record<string, unknown>> = [];
  private chars = 0;

  constructor(
    shape: ColumnShape,
    private readonly label: string,
  ) {
    super({ decodeStrings: false });
    const entries = Object.entries(shape);
    this.columns = entries.map(([name, type]) => ({ name, convert: converterOf(type), statistics: !holdsText(type) }));
    const schema: SchemaElement[] = [{ name: 'root', num_children: entries.length }, ...entries.flatMap(([name, type]) => schemaOf(name, type))];
    this.writer = new ParquetWriter({ writer: new PushingWriter((bytes) => this.push(bytes)), schema, codec: 'SNAPPY', createdBy: 'distill-stream' });
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.addText(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    } catch (error) {
      return callback(error as Error);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.addText(this.decoder.end());
      if (this.pending !== '') this.addRow(this.pending);
      this.writeGroup();
      this.writer.finish();
    } catch (error) {
      return callback(error as Error);
    }
    callback();
  }

  private addText(text: string): void {
    let start = 0;
    let newline: number;
    const joined = this.pending === '' ? text : this.pending + text;
    while ((newline = joined.indexOf('\n', start)) !== -1) {
      this.addRow(joined.slice(start, newline));
      start = newline + 1;
    }
    this.pending = joined.slice(start);
  }

  private addRow(line: string): void {
    this.rows.push(JSON.parse(line) as Record<string, unknown>);
    this.chars += line.length;
    if (this.rows.length >= ROW_GROUP_ROWS || this.chars >= ROW_GROUP_CHARS) this.writeGroup();
  }

  private writeGroup(): void {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    this.chars = 0;
    const columnData: ColumnSource[] = this.columns.map(({ name, convert, statistics }) => ({
      name,
      data: convert === undefined ? rows.map((row) => row[name]) : rows.map((row) => convert(row[name])),
      statistics,
    }));
    try {
      void this.writer.write({ columnData, rowGroupSize: rows.length });
    } catch (cause) {
      throw new DistillError('DS_INTERNAL', `${this.label}: a row does not fit the Parquet columns of its view: ${(cause as Error).message}`, { path: this.label, cause });
    }
  }
}
