// The deployment files in deploy/ (issue 13 §2), checked offline as far as their schemas go:
// - every file parses (YAML with the repo's `yaml`, the Dockerfile and the systemd unit by their
//   line grammars);
// - Kubernetes: the fields each kind requires, selectors that match the pod labels, Service ports
//   that target real container ports, volumes that exist, probes on real API routes that need no
//   token, a PodDisruptionBudget of f = 1;
// - every `bpci` command line in them (container args, compose command, HEALTHCHECK, ExecStart)
//   parses with the CLI's own program definition (program.ts) and names a real verb;
// - the configs they reference are generated here by `bpci config init` with the flags their own
//   comments document, load with the validator's config loader, and agree with the manifests on
//   host names, ports and paths.
// `kubectl kustomize` and `systemd-analyze verify` run too when installed (both work offline).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { Command } from 'commander';
import { buildProgram, runCli } from '@bpci/node/cli/program';
import { loadConfig, type NodeConfig } from '@bpci/node/config/config';
import { createApi } from '@bpci/node/api/server';
import { isOpenPath } from '@bpci/node/api/auth';
import { FakeNode } from '../../packages/node/test/fake-node.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const deploy = (p: string) => path.join(root, 'deploy', p);
const read = (p: string) => fs.readFileSync(deploy(p), 'utf8');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-manifests-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ------------------------------------------------------------------ helpers

function leafCommands(c: Command): Command[] {
  return c.commands.length === 0 ? [c] : c.commands.flatMap((x) => leafCommands(x as Command));
}
function commandPath(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x && x.parent; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

/**
 * Parses argv with the real `bpci` program, every action replaced by a recorder: unknown verbs,
 * unknown flags, missing required flags and bad values fail exactly as they would for a user.
 */
async function parseBpci(argv: readonly string[]): Promise<{ command: string; opts: Record<string, unknown>; globals: Record<string, unknown> }> {
  const silent = { out: () => {}, err: () => {}, progress: false };
  const program = buildProgram({ io: silent });
  let hit: { command: string; opts: Record<string, unknown> } | undefined;
  program.exitOverride();
  for (const c of [program, ...program.commands.flatMap((x) => [x as Command, ...(x as Command).commands.map((y) => y as Command)])]) c.exitOverride();
  for (const c of leafCommands(program)) {
    c.exitOverride();
    c.action(function (this: Command) {
      hit = { command: commandPath(this), opts: this.opts() };
    });
  }
  await program.parseAsync([...argv], { from: 'user' });
  if (!hit) throw new Error(`no bpci command ran for: ${argv.join(' ')}`);
  return { ...hit, globals: program.opts() };
}

/** The `bpci config init ...` command a file documents in its comments / code block (with `\` continuations). */
function documentedInit(text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/^\s*#\s?/, ''));
  const start = lines.findIndex((l) => /bpci -- config init/.test(l));
  expect(start, 'a documented `npm run bpci -- config init` command').toBeGreaterThanOrEqual(0);
  let cmd = '';
  for (let i = start; i < lines.length; i++) {
    const l = lines[i]!.trim();
    cmd += ` ${l.replace(/\\$/, '')}`;
    if (!l.endsWith('\\')) break;
  }
  const words = cmd.trim().split(/\s+/);
  return words.slice(words.indexOf('--') + 1);
}

/** Runs the documented config init with --out redirected into the test's temp dir. */
async function generate(args: string[], outDir: string): Promise<Map<string, NodeConfig>> {
  const a = [...args];
  const i = a.indexOf('--out');
  expect(i, '--out in the documented command').toBeGreaterThan(0);
  a[i + 1] = outDir;
  const err: string[] = [];
  const code = await runCli(a, { io: { out: () => {}, err: (t) => err.push(t), progress: false } });
  expect(code, err.join('')).toBe(0);
  const configs = new Map<string, NodeConfig>();
  for (const id of fs.readdirSync(outDir).filter((d) => d.startsWith('validator-')).sort()) {
    configs.set(id, loadConfig(path.join(outDir, id, 'config.yaml')));
  }
  return configs;
}

/** The validator's real GET routes, from the API itself. */
const api = createApi({ node: new FakeNode() });
beforeAll(async () => {
  await api.ready();
});
afterAll(async () => {
  await api.close();
});
function isGetRoute(url: string): boolean {
  return api.hasRoute({ method: 'GET', url });
}

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).status === 0;
}

// ------------------------------------------------------------------ Kubernetes

type K8s = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; [k: string]: any };

const K8S_API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  Service: 'v1',
  StatefulSet: 'apps/v1',
  PodDisruptionBudget: 'policy/v1',
};
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('deploy/k8s', () => {
  const kustomization = YAML.parse(read('k8s/kustomization.yaml'));
  const docs: K8s[] = (kustomization.resources as string[]).flatMap((f) =>
    YAML.parseAllDocuments(read(`k8s/${f}`)).map((d) => {
      expect(d.errors, f).toEqual([]);
      return d.toJS() as K8s;
    }),
  );
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const sts = byKind('StatefulSet')[0]!;
  const pod = sts?.spec?.template;
  const containers: any[] = pod?.spec?.containers ?? [];
  const validator = containers.find((c) => c.name === 'validator');
  const containerPorts = new Map<string, number>(validator?.ports?.map((p: any) => [p.name, p.containerPort]));
  let configs: Map<string, NodeConfig>;
  const clusterDir = path.join(tmp, 'k8s', 'cluster');

  beforeAll(async () => {
    configs = await generate(documentedInit(read('k8s/README.md')), clusterDir);
  });

  it('every document has apiVersion, kind and a DNS-label metadata.name; the kinds are the expected ones', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(['Namespace', 'PodDisruptionBudget', 'Service', 'Service', 'StatefulSet']);
    for (const d of docs) {
      expect(K8S_API_VERSIONS[d.kind], d.kind).toBe(d.apiVersion);
      expect(d.metadata?.name, d.kind).toMatch(DNS_LABEL);
      if (d.kind !== 'Namespace') expect(d.spec, `${d.kind}/${d.metadata.name} spec`).toBeTypeOf('object');
    }
    expect(kustomization.namespace).toBe(byKind('Namespace')[0]!.metadata.name);
  });

  it('StatefulSet: governing headless Service, selector matches the template, a claim per validator', () => {
    const s = sts.spec;
    const governing = byKind('Service').find((x) => x.metadata.name === s.serviceName);
    expect(governing, `spec.serviceName ${s.serviceName}`).toBeDefined();
    expect(governing!.spec.clusterIP).toBe('None');
    expect(governing!.spec.publishNotReadyAddresses).toBe(true);
    expect(Object.keys(s.selector.matchLabels).length).toBeGreaterThan(0);
    expect(matches(s.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(s.replicas).toBe(configs.size);
    expect(s.volumeClaimTemplates.length).toBeGreaterThan(0);
    for (const t of s.volumeClaimTemplates) {
      expect(t.metadata.name).toMatch(DNS_LABEL);
      expect(t.spec.accessModes).toContain('ReadWriteOnce');
      expect(t.spec.resources.requests.storage).toMatch(/^\d+(Ki|Mi|Gi|Ti)$/);
    }
    const volumes = new Set<string>([...pod.spec.volumes.map((v: any) => v.name), ...s.volumeClaimTemplates.map((t: any) => t.metadata.name)]);
    for (const c of [...pod.spec.initContainers, ...containers]) {
      expect(c.name).toMatch(DNS_LABEL);
      expect(c.image).toBeTypeOf('string');
      for (const m of c.volumeMounts ?? []) {
        expect(volumes.has(m.name), `${c.name} mounts ${m.name}`).toBe(true);
        expect(m.mountPath).toMatch(/^\//);
      }
    }
    // Every volume is used, and each claim template is mounted by the validator.
    const mounted = new Set([...pod.spec.initContainers, ...containers].flatMap((c: any) => (c.volumeMounts ?? []).map((m: any) => m.name)));
    for (const v of volumes) expect(mounted.has(v), `volume ${v} is mounted`).toBe(true);
    // Non-root, no escalation.
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
    for (const c of [...pod.spec.initContainers, ...containers]) expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('container ports are valid and every Service port targets one; selectors match the pods', () => {
    expect(containerPorts.size).toBe(validator.ports.length);
    for (const [name, port] of containerPorts) {
      expect(name).toMatch(PORT_NAME);
      expect(Number.isInteger(port) && port >= 1 && port <= 65535).toBe(true);
    }
    for (const svc of byKind('Service')) {
      expect(matches(svc.spec.selector, pod.metadata.labels), `${svc.metadata.name} selects the validator pods`).toBe(true);
      for (const p of svc.spec.ports) {
        expect(Number.isInteger(p.port)).toBe(true);
        const target = p.targetPort ?? p.port;
        const ok = typeof target === 'string' ? containerPorts.has(target) : [...containerPorts.values()].includes(target);
        expect(ok, `${svc.metadata.name} port ${p.name} -> ${String(target)}`).toBe(true);
      }
    }
  });

  it('probes hit real API routes that answer without a token, on the API port, over HTTPS', () => {
    for (const kind of ['readinessProbe', 'livenessProbe']) {
      const probe = validator[kind];
      expect(probe, kind).toBeDefined();
      const g = probe.httpGet;
      expect(isGetRoute(g.path), `${kind} GET ${g.path} is a route of the API`).toBe(true);
      expect(isOpenPath(g.path), `${kind} ${g.path} needs no bearer token`).toBe(true);
      expect(g.port).toBe('api');
      expect(g.scheme).toBe('HTTPS');
    }
  });

  it('PodDisruptionBudget allows at most f = 1 unavailable and selects the validators', () => {
    const pdb = byKind('PodDisruptionBudget')[0]!;
    const n = sts.spec.replicas as number;
    expect(pdb.spec.maxUnavailable).toBe(Math.floor((n - 1) / 3));
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeUndefined();
    expect(matches(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('the validator container runs a real bpci command, and the config it names is what the init container writes', async () => {
    const p = await parseBpci(validator.args);
    expect(p.command).toBe('node start');
    const init = pod.spec.initContainers.find((c: any) => c.name === 'identity');
    expect(init.args[0]).toContain(`${p.opts.config}`);
  });

  it('ConfigMap and Secret come from config init output; the init container finds every file it copies', () => {
    const vol = (n: string) => pod.spec.volumes.find((v: any) => v.name === n);
    const cmGen = kustomization.configMapGenerator.find((g: any) => g.name === vol('config').configMap.name);
    const secGen = kustomization.secretGenerator.find((g: any) => g.name === vol('secrets').secret.secretName);
    expect(cmGen).toBeDefined();
    expect(secGen).toBeDefined();
    const keysOf = (g: any): Map<string, string> => new Map(g.files.map((f: string) => f.split('=') as [string, string]));
    const cmKeys = keysOf(cmGen);
    const secKeys = keysOf(secGen);
    for (const [key, src] of [...cmKeys, ...secKeys]) {
      expect(key, 'a ConfigMap/Secret key').toMatch(/^[-._a-zA-Z0-9]+$/);
      const file = path.join(tmp, 'k8s', src);
      expect(fs.existsSync(file), `${src} (from config init)`).toBe(true);
    }
    // The secret volume's mode is a number (YAML 1.2 would read 0440 as decimal 440).
    expect(vol('secrets').secret.defaultMode).toBe(0o440);
    // What the init container copies, for every pod ordinal, is a key of the ConfigMap or Secret.
    const script: string = pod.spec.initContainers[0].args[0];
    const refs = [...script.matchAll(/"?\/(config|secrets)\/([^"\s]+)"?/g)].map((m) => [m[1]!, m[2]!] as const);
    expect(refs.length).toBeGreaterThanOrEqual(6);
    for (let k = 0; k < sts.spec.replicas; k++) {
      const id = `validator-${String(k + 1).padStart(3, '0')}`;
      for (const [where, name] of refs) {
        const key = name.replace('$id', id);
        expect((where === 'config' ? cmKeys : secKeys).has(key), `/${where}/${key} for pod bpci-${k}`).toBe(true);
      }
    }
  });

  it('the generated configs load and agree with the manifests: pod DNS names, ports, data volume', () => {
    const ns = kustomization.namespace as string;
    const dataMount = validator.volumeMounts.find((m: any) => m.name === sts.spec.volumeClaimTemplates[0].metadata.name).mountPath;
    expect(configs.size).toBe(4);
    let k = 0;
    for (const [id, c] of configs) {
      expect(c.node.validatorId).toBe(id);
      const me = c.activeValidators[c.node.index]!;
      expect(me.host).toBe(`${sts.metadata.name}-${k}.${sts.spec.serviceName}.${ns}.svc.cluster.local`);
      expect(me.port).toBe(containerPorts.get('peer'));
      expect(me.client?.port).toBe(containerPorts.get('client'));
      expect(c.node.api.port).toBe(containerPorts.get('api'));
      expect(c.node.api.host).toBe('0.0.0.0'); // probes and port-forward reach it
      expect(c.node.api.tls).toBeDefined();
      expect(path.dirname(c.node.dataDir)).toBe(dataMount);
      k++;
    }
  });

  it.skipIf(!has('kubectl'))('kubectl kustomize renders it (offline), with generated names wired into the StatefulSet', () => {
    const dir = path.join(tmp, 'k8s');
    for (const f of fs.readdirSync(deploy('k8s'))) if (f.endsWith('.yaml')) fs.copyFileSync(deploy(`k8s/${f}`), path.join(dir, f));
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const rendered = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as K8s);
    const cm = rendered.find((d) => d.kind === 'ConfigMap')!;
    const secret = rendered.find((d) => d.kind === 'Secret')!;
    const s = rendered.find((d) => d.kind === 'StatefulSet')!;
    expect(s.spec.template.spec.volumes.find((v: any) => v.name === 'config').configMap.name).toBe(cm.metadata.name);
    expect(s.spec.template.spec.volumes.find((v: any) => v.name === 'secrets').secret.secretName).toBe(secret.metadata.name);
    expect(Object.keys(cm.data).sort()).toEqual(['validator-001.yaml', 'validator-002.yaml', 'validator-003.yaml', 'validator-004.yaml']);
    for (const d of rendered) if (d.kind !== 'Namespace') expect(d.metadata.namespace, d.kind).toBe('bpci');
  });
});

// ------------------------------------------------------------------ compose

describe('deploy/docker/compose.yaml', () => {
  const text = read('docker/compose.yaml');
  const doc = YAML.parse(text, { merge: true });
  const clusterDir = path.join(tmp, 'docker', 'cluster');
  let configs: Map<string, NodeConfig>;
  beforeAll(async () => {
    configs = await generate(documentedInit(text), clusterDir);
  });

  it('has services, named volumes and networks in compose structure', () => {
    expect(doc.services).toBeTypeOf('object');
    expect(Object.keys(doc.services).sort()).toEqual(['validator-001', 'validator-002', 'validator-003', 'validator-004']);
    const named = new Set(Object.keys(doc.volumes ?? {}));
    const networks = new Set(Object.keys(doc.networks ?? {}));
    const hostPorts = new Set<string>();
    for (const [name, s] of Object.entries<any>(doc.services)) {
      expect(s.image ?? s.build, name).toBeDefined();
      expect(fs.existsSync(path.resolve(deploy('docker'), s.build.context, s.build.dockerfile)), `${name} build.dockerfile`).toBe(true);
      for (const n of s.networks) expect(networks.has(n), `${name} network ${n}`).toBe(true);
      for (const v of s.volumes) {
        expect(v).toMatch(/^[^:]+:\/[^:]*(:ro|:rw)?$/);
        const src = v.split(':')[0]!;
        if (!src.startsWith('.') && !src.startsWith('/')) expect(named.has(src), `${name} volume ${src} is declared`).toBe(true);
      }
      for (const p of s.ports) {
        const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)$/.exec(p);
        expect(m, `${name} port ${p}`).not.toBeNull();
        expect(hostPorts.has(`${m![1]}:${m![2]}`), `host port ${p} used once`).toBe(false);
        hostPorts.add(`${m![1]}:${m![2]}`);
      }
    }
    // Each data volume belongs to one service.
    const uses = Object.values<any>(doc.services).flatMap((s) => s.volumes.map((v: string) => v.split(':')[0]).filter((v: string) => named.has(v)));
    expect(new Set(uses).size).toBe(uses.length);
  });

  it('each service runs a real bpci command on the config init output mounted for it', async () => {
    for (const [name, s] of Object.entries<any>(doc.services)) {
      const p = await parseBpci(s.command);
      expect(p.command).toBe('node start');
      const etc = s.volumes.find((v: string) => v.split(':')[1] === path.posix.dirname(p.opts.config as string));
      expect(etc, `${name} mounts the folder of ${p.opts.config}`).toBeDefined();
      const hostDir = path.join(tmp, 'docker', path.relative('.', etc.split(':')[0]));
      const c = loadConfig(path.join(hostDir, path.posix.basename(p.opts.config as string)));
      expect(c.node.validatorId).toBe(name);
      expect(configs.get(name)!.node.validatorId).toBe(name);
      // Peers dial the service by name; the API listens where the published port reaches it.
      expect(c.activeValidators[c.node.index]!.host).toBe(name);
      expect(s.hostname).toBe(name);
      expect(c.node.api.host).toBe('0.0.0.0');
      const published = s.ports.map((x: string) => Number(x.split(':').at(-1)));
      expect(published).toContain(c.node.api.port);
      // The data dir is on the service's own named volume.
      const data = s.volumes.find((v: string) => !v.startsWith('.'));
      expect(path.posix.dirname(c.node.dataDir)).toBe(data.split(':')[1]);
    }
  });
});

// ------------------------------------------------------------------ Dockerfile

interface Instruction {
  readonly op: string;
  readonly args: string;
}
function dockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => {
      const m = /^([A-Za-z]+)\s+(.*)$/.exec(l);
      expect(m, `instruction: ${l}`).not.toBeNull();
      return { op: m![1]!.toUpperCase(), args: m![2]! };
    });
}

describe('deploy/docker/Dockerfile', () => {
  const ins = dockerfile(read('docker/Dockerfile'));
  const KNOWN = new Set(['FROM', 'ARG', 'ENV', 'WORKDIR', 'COPY', 'RUN', 'USER', 'VOLUME', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'LABEL']);
  const args = new Map<string, string>();
  for (const i of ins.filter((x) => x.op === 'ARG')) {
    const [k, v] = i.args.split('=');
    args.set(k!, v ?? '');
  }
  const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? '');

  it('uses known instructions; multi-stage, from node:20 images only', () => {
    for (const i of ins) expect(KNOWN.has(i.op), i.op).toBe(true);
    const froms = ins.filter((i) => i.op === 'FROM').map((i) => expand(i.args).split(/\s+/));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f[0], 'base image').toMatch(/^node:20(-[a-z0-9-]+)?$/);
    expect(froms.every((f) => f[1]?.toUpperCase() === 'AS' && f[2])).toBe(true);
  });

  it('every COPY source exists in the build context (the repository root), and --from names a stage', () => {
    const stages = new Set(ins.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[2]));
    const ignore = fs.readFileSync(deploy('docker/Dockerfile.dockerignore'), 'utf8');
    for (const c of ins.filter((i) => i.op === 'COPY')) {
      const words = c.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='));
      const paths = words.filter((w) => !w.startsWith('--'));
      const sources = paths.slice(0, -1);
      expect(sources.length, c.args).toBeGreaterThan(0);
      if (from) {
        expect(stages.has(from.slice('--from='.length)), c.args).toBe(true);
        continue;
      }
      for (const s of sources) {
        expect(fs.existsSync(path.join(root, s)), `COPY source ${s}`).toBe(true);
        expect(ignore.split('\n').includes(s.replace(/\/$/, '')), `${s} is not excluded by the .dockerignore`).toBe(false);
      }
    }
    // Keys, data and the clusters config init writes never enter the context.
    for (const p of ['.bpci-cluster', 'data', 'deploy/*/cluster']) expect(ignore.split('\n')).toContain(p);
  });

  it('runs as a non-root USER, keeps the data dir on a VOLUME, exposes the config ports', async () => {
    const lastFrom = ins.map((i) => i.op).lastIndexOf('FROM');
    const runtime = ins.slice(lastFrom);
    const users = runtime.filter((i) => i.op === 'USER').map((i) => i.args.trim());
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    const volumes = runtime.filter((i) => i.op === 'VOLUME').flatMap((i) => JSON.parse(i.args) as string[]);
    const c = loadConfig(path.join(tmp, 'docker', 'cluster', 'validator-001', 'config.yaml'));
    expect(volumes).toContain(path.posix.dirname(c.node.dataDir));
    const exposed = runtime.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    const me = c.activeValidators[c.node.index]!;
    expect(exposed.sort()).toEqual([c.node.api.port, me.port, me.client!.port].sort());
  });

  it('HEALTHCHECK, ENTRYPOINT and CMD are real bpci commands; the check uses an open route on the API port', async () => {
    const one = (op: string) => ins.filter((i) => i.op === op).at(-1)!;
    const entry = JSON.parse(one('ENTRYPOINT').args) as string[];
    const cmd = JSON.parse(one('CMD').args) as string[];
    expect(entry).toEqual(['bpci']);
    expect((await parseBpci(cmd)).command).toBe('node start');
    const hc = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(one('HEALTHCHECK').args);
    expect(hc, 'HEALTHCHECK ... CMD [exec form]').not.toBeNull();
    const argv = JSON.parse(hc![1]!) as string[];
    expect(argv[0]).toBe('bpci');
    const p = await parseBpci(argv.slice(1));
    expect(p.command).toBe('health');
    const url = new URL(p.globals.api as string);
    expect(isOpenPath('/health') && isGetRoute('/health')).toBe(true);
    const c = loadConfig(path.join(tmp, 'docker', 'cluster', 'validator-001', 'config.yaml'));
    expect(Number(url.port)).toBe(c.node.api.port);
    expect(url.protocol).toBe('https:');
    // The CA it trusts is the one config init puts in the mounted folder.
    expect(path.posix.dirname(p.globals.caFile as string)).toBe('/etc/bpci');
    expect(fs.existsSync(path.join(tmp, 'docker', 'cluster', 'validator-001', path.posix.basename(p.globals.caFile as string)))).toBe(true);
    // The bpci on the PATH is the CLI's entry point built from the sources.
    expect(ins.some((i) => i.op === 'RUN' && i.args.includes('ln -s /opt/bpci/packages/node/dist/cli/bpci.js /usr/local/bin/bpci'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'packages/node/src/cli/bpci.ts'))).toBe(true);
  });
});

// ------------------------------------------------------------------ systemd

function unitFile(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) continue;
    const s = /^\[([A-Za-z]+)\]$/.exec(l);
    if (s) {
      cur = new Map();
      sections.set(s[1]!, cur);
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(l);
    expect(kv, `unit line: ${l}`).not.toBeNull();
    expect(cur, `${l} outside a section`).toBeDefined();
    cur!.set(kv![1]!, [...(cur!.get(kv![1]!) ?? []), kv![2]!]);
  }
  return sections;
}

describe('deploy/systemd/bpci-validator@.service', () => {
  const unit = unitFile(read('systemd/bpci-validator@.service'));
  const svc = unit.get('Service')!;
  const get = (k: string) => svc.get(k)?.at(-1);

  it('has Unit, Service and Install sections and the hardening the deployment guide promises', () => {
    expect([...unit.keys()].sort()).toEqual(['Install', 'Service', 'Unit']);
    expect(get('User')).toMatch(/^[a-z_][a-z0-9_-]*$/);
    expect(get('User')).not.toBe('root');
    expect(get('NoNewPrivileges')).toBe('yes');
    expect(get('ProtectSystem')).toBe('strict');
    expect(get('ReadWritePaths')).toBe('/var/lib/bpci/%i');
    expect(get('Restart')).toBe('on-failure');
    expect(Number(unit.get('Unit')!.get('StartLimitBurst')?.[0])).toBeGreaterThan(0);
    expect(unit.get('Unit')!.get('StartLimitIntervalSec')?.[0]).toMatch(/^\d+/);
    expect(Number(get('LimitNOFILE'))).toBeGreaterThanOrEqual(4096);
    expect(get('MemoryDenyWriteExecute')).toBeUndefined(); // V8's JIT needs W+X pages
  });

  it('ExecStart runs the real `bpci node start` on the config init layout', async () => {
    const exec = get('ExecStart')!.replaceAll('%i', 'validator-001').split(/\s+/);
    expect(exec[0]).toBe('/usr/bin/node');
    expect(exec[1]).toMatch(/\/packages\/node\/dist\/cli\/bpci\.js$/);
    const p = await parseBpci(exec.slice(2));
    expect(p.command).toBe('node start');
    expect(p.opts.config).toBe('/etc/bpci/validator-001/config.yaml');
    // The default config init layout: <out>/<id>/config.yaml with data_dir /var/lib/bpci/<id>.
    const out = path.join(tmp, 'systemd');
    const configs = await generate(['config', 'init', '--validators', '4', '--hosts', '10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4', '--out', out], out);
    const c = configs.get('validator-001')!;
    expect(c.node.dataDir).toBe(get('ReadWritePaths')!.replaceAll('%i', 'validator-001'));
    expect(fs.existsSync(path.join(out, 'validator-001', path.posix.basename(p.opts.config as string)))).toBe(true);
  });

  it.skipIf(!has('systemd-analyze'))('systemd-analyze verify accepts it', () => {
    const dir = path.join(tmp, 'unit');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(deploy('systemd/bpci-validator@.service'), path.join(dir, 'bpci-validator@.service'));
    const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'bpci-validator@validator-001.service')], { encoding: 'utf8', timeout: 30_000 });
    // verify exits 0 with nothing to say when the unit is well-formed (it may warn about the
    // absent /opt/bpci on this machine, which is not an error of the unit).
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Unknown (key|section)|bad-setting|Failed to parse/i);
  });

  it('parseBpci rejects what a user would get wrong (the checks above are not vacuous)', async () => {
    await expect(parseBpci(['node', 'begin', '--config', 'x'])).rejects.toThrow();
    await expect(parseBpci(['node', 'start', '--configuration', 'x'])).rejects.toThrow();
    await expect(parseBpci(['node', 'start'])).rejects.toThrow();
  });
});
