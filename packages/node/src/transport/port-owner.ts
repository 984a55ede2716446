// Who listens on a TCP port: for the one-line message of a validator that cannot bind one of its
// ports (issue 13 §2), so the operator sees "in use by pid 4242 (node bpci.js node start --config
// .../validator-002.yaml)" instead of a bare EADDRINUSE.
//
// Linux only, best effort: the listening socket's inode from /proc/net/tcp and tcp6, then the
// process whose /proc/<pid>/fd links to it. Processes of other users are not readable: then (and
// on other systems) the answer is undefined and the message says the port is taken without a pid.

import fs from 'node:fs';

export interface PortOwner {
  readonly pid: number;
  /** Its command line, shortened. */
  readonly command: string;
}

const TCP_LISTEN = '0A';
const COMMAND_CHARS_MAX = 160;

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
      const local = f[1]!;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** The process listening on TCP `port` on this machine, when it can be found. */
export function findPortOwner(port: number): PortOwner | undefined {
  let inodes: Set<string>;
  try {
    inodes = listeningInodes(port);
  } catch {
    return undefined;
  }
  if (inodes.size === 0) return undefined;
  const targets = new Set([...inodes].map((i) => `socket:[${i}]`));
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!targets.has(link)) continue;
      let command = '?';
      try {
        command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      } catch {
        // keep '?'
      }
      if (command.length > COMMAND_CHARS_MAX) command = `${command.slice(0, COMMAND_CHARS_MAX - 3)}...`;
      return { pid: Number(pid), command };
    }
  }
  return undefined;
}
