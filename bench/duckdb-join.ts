/**
 * The DuckDB peer of `sft`'s join, for the e2e bench: the accepted scored runs joined with their
 * instructable, non-blank evidence on the same files, written as JSON lines.
 *
 *   node dist/bench/duckdb-join.js --threads 2 --scored DIR --evidence DIR --out FILE
 *     → {"rows":N,"threads":T,"querySeconds":S} on stderr
 *
 * Columns are named rather than detected (detection costs DuckDB ~0.7 s more on a 512 MB archive),
 * and the blank test trims the full ASCII whitespace set because DuckDB's plain trim() strips only
 * spaces. It has no source-file gate, so its rows are sft's exported rows plus its
 * hallucinated_file_path quarantines.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import path from 'node:path';
import { parseArgs } from 'node:util';

const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;
const jsonlUnder = (dir: string): string => quote(path.join(dir, '**', '*.jsonl'));

function joinSql(scored: string, evidence: string, out: string): string {
  return `
COPY (
  SELECT s.evidence_run_id AS source_run_id, s.task_id, s.category AS quality_score, s.provenance.sig_hash AS sig_hash,
         e.model_role, e.model_name, e.text AS response
  FROM read_json(${jsonlUnder(scored)}, format='newline_delimited',
         columns={'evidence_run_id':'VARCHAR','task_id':'VARCHAR','category':'VARCHAR','provenance':'STRUCT(sig_hash VARCHAR)'}) AS s
  JOIN read_json(${jsonlUnder(evidence)}, format='newline_delimited',
         columns={'run_id':'VARCHAR','model_role':'VARCHAR','model_name':'VARCHAR','text':'VARCHAR'}) AS e
    ON e.run_id = s.evidence_run_id
  WHERE s.category = 'accepted' AND e.model_role IN ('executor','reviewer','applier')
    AND trim(e.text, E' \\t\\n\\r\\v\\f') <> ''
) TO ${quote(out)} (FORMAT JSON)`;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { threads: { type: 'string' }, scored: { type: 'string' }, evidence: { type: 'string' }, out: { type: 'string' } } });
  const threads = Number(values.threads);
  if (!Number.isSafeInteger(threads) || threads < 1 || values.scored === undefined || values.evidence === undefined || values.out === undefined) {
    throw new RangeError('usage: duckdb-join.js --threads N --scored DIR --evidence DIR --out FILE');
  }
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const connection = await instance.connect();
  const started = performance.now();
  const result = await connection.run(joinSql(values.scored, values.evidence, values.out));
  const querySeconds = (performance.now() - started) / 1000;
  const rows = Number(result.rowsChanged);
  connection.closeSync();
  instance.closeSync();
  process.stderr.write(`${JSON.stringify({ rows, threads, querySeconds })}\n`);
}

await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`duckdb-join: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof RangeError ? 2 : 1;
});
