// Which prebuilt binary fits this process: the folder name under prebuilds/ that
// scripts/build.sh --portable writes and the loader (index.ts) reads.
//
// Node-API is ABI-stable (the addon exports napi_register_module_v1 only), so one binary serves
// every Node version >= 20 on a platform; what differs is the OS, the CPU architecture and, on
// Linux, the C library (a glibc build does not load on musl).

/** The C library of a Linux process: 'gnu' (glibc) or 'musl'. */
export function linuxLibc(): 'gnu' | 'musl' {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
}

/** e.g. 'linux-x64', 'linux-arm64', 'linux-x64-musl', 'darwin-arm64', 'win32-x64'. */
export function platformKey(platform: string = process.platform, arch: string = process.arch, libc?: 'gnu' | 'musl'): string {
  const base = `${platform}-${arch}`;
  if (platform !== 'linux') return base;
  return (libc ?? linuxLibc()) === 'musl' ? `${base}-musl` : base;
}
