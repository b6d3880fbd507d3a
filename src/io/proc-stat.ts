import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/<pid>/stat after the command name, the first being the state (field 3 in
 * proc(5)); undefined when it cannot be read: the process is gone (and reaped), or there is no
 * /proc (not Linux). The name is skipped by its last ')', since a name may hold spaces and parens.
 */
export function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
