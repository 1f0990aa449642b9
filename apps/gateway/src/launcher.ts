import { readFileSync } from 'node:fs';

/**
 * `npx pnpm start` runs the gateway under a chain of processes: npx, a shell, pnpm, (the script's
 * shell). A SIGTERM sent to the outermost one alone never reaches the gateway: npx passes it to its
 * shell, which dies without passing it on, and pnpm and the gateway are left running, holding the
 * ports and the database lock. So when a package manager started the gateway, it watches the
 * processes above it in its own process group (up to the group's leader, the command that was typed)
 * and stops, as on SIGTERM, when one of them exits. Linux only (it reads /proc).
 */
export function watchLauncher(
  onGone: (pid: number) => void,
  env: NodeJS.ProcessEnv = process.env,
  everyMs = 500,
): (() => void) | undefined {
  if (!env.npm_lifecycle_event || process.platform !== 'linux') return undefined;
  const self = stat(process.pid);
  if (!self) return undefined;
  const chain: { pid: number; start: string }[] = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 32; ) {
    const s = stat(pid);
    if (!s || s.pgrp !== self.pgrp) break;
    chain.push({ pid, start: s.start });
    if (pid === self.pgrp) break;
    pid = s.ppid;
  }
  if (!chain.length) return undefined;
  const timer = setInterval(() => {
    // Gone, exited but not yet reaped (zombie), or the pid taken by another process.
    const gone = chain.find((p) => {
      const s = stat(p.pid);
      return !s || s.state === 'Z' || s.start !== p.start;
    });
    if (gone) {
      clearInterval(timer);
      onGone(gone.pid);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

function stat(pid: number): { state: string; ppid: number; pgrp: number; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name, in parentheses, may itself hold spaces and parentheses.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, ppid: Number(f[1]), pgrp: Number(f[2]), start: f[19]! };
}
