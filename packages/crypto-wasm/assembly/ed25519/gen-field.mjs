// Generates fe-gen.ts: the unrolled GF(2^255-19) multiply and square, and the curve constants
// as limbs. Run: node packages/crypto-wasm/assembly/ed25519/gen-field.mjs (output is committed,
// so the wasm build needs no extra step).
//
// Representation: 10 signed limbs, radix 2^25.5. Limb i has weight 2^ceil(25.5 i), so even
// limbs carry 26 bits and odd limbs 25 bits. For a product f_i g_j the weight of the pair is
// w(i) + w(j), which equals w(i+j) unless both i and j are odd (then it is one bit more, hence
// the factor 2); positions i+j >= 10 wrap around through 2^255 = 19 (mod p).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const P = (1n << 255n) - 19n;
const mod = (a) => ((a % P) + P) % P;
const pow = (b, e) => { let r = 1n; b = mod(b); while (e > 0n) { if (e & 1n) r = (r * b) % P; b = (b * b) % P; e >>= 1n; } return r; };
const inv = (a) => pow(a, P - 2n);
const W = (i) => Math.ceil(25.5 * i);
const BITS = (i) => (i % 2 === 0 ? 26 : 25);

// Limbs of v, balanced (|limb| <= half the limb range) like a multiply's output.
function limbs(v) {
  const out = [];
  for (let i = 0; i < 10; i++) out.push((v >> BigInt(W(i))) & ((1n << BigInt(BITS(i))) - 1n));
  for (let i = 0; i < 10; i++) {
    const b = BigInt(BITS(i));
    const c = (out[i] + (1n << (b - 1n))) >> b;
    out[i] -= c << b;
    if (i < 9) out[i + 1] += c; else out[0] += 19n * c;
  }
  return out;
}

// Balanced carry chain (rounding, so limbs end up signed and small): the interleaved order
// gives the engine two independent dependency chains.
function carryChain(h) {
  const step = (i) => {
    const b = BITS(i);
    const next = i === 9 ? 0 : i + 1;
    const mul = i === 9 ? ' * 19' : '';
    return `  c = (${h}${i} + ${1n << BigInt(b - 1)}) >> ${b}; ${h}${next} += c${mul}; ${h}${i} -= c << ${b};`;
  };
  return [0, 4, 1, 5, 2, 6, 3, 7, 4, 8, 9, 0].map(step).join('\n');
}

function genMul() {
  const lines = [];
  lines.push('/** h = f * g. Inputs: sums of at most four carried elements; h may alias f or g. */');
  lines.push('export function feMul(h: usize, f: usize, g: usize): void {');
  for (let i = 0; i < 10; i++) lines.push(`  const f${i} = load<i64>(f, ${i * 8});`);
  for (let i = 0; i < 10; i++) lines.push(`  const g${i} = load<i64>(g, ${i * 8});`);
  for (let i = 1; i < 10; i += 2) lines.push(`  const f${i}_2 = f${i} << 1;`);
  for (let j = 1; j < 10; j++) lines.push(`  const g${j}_19 = g${j} * 19;`);
  for (let k = 0; k < 10; k++) {
    const terms = [];
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 10; j++) {
        if ((i + j) % 10 !== k) continue;
        const two = i % 2 === 1 && j % 2 === 1;
        const wrap = i + j >= 10;
        terms.push(`${two ? `f${i}_2` : `f${i}`} * ${wrap ? `g${j}_19` : `g${j}`}`);
      }
    }
    lines.push(`  let h${k}: i64 = ${terms.join(' + ')};`);
  }
  lines.push('  let c: i64;');
  lines.push(carryChain('h'));
  for (let i = 0; i < 10; i++) lines.push(`  store<i64>(h, h${i}, ${i * 8});`);
  lines.push('}');
  return lines.join('\n');
}

// SIMD multiply (experiment, selected with GEN_SIMD=1): lane 0 accumulates h_{2m}, lane 1
// h_{2m+1}, both as i64 from 32x32 extmuls of i32 limbs. Wrapped products (i + j >= 10) go to a
// separate accumulator W that is multiplied by 19 at the end, so no operand is premultiplied
// by 19 (that would overflow i32). The factor 2 for odd*odd sits in lane 0 of F_i for odd i.
function genMulSimd() {
  const L = [];
  L.push('/** h = f * g (SIMD variant). Same contract as the scalar multiply. */');
  L.push('export function feMul(h: usize, f: usize, g: usize): void {');
  for (let t = 0; t < 5; t++) L.push(`  const gv${t} = v128.load(g, ${t * 16});`);
  // even-start pairs (g_2t, g_2t+1) and odd-start pairs (g_2t+1, g_2t+2 mod 10) in lanes 0, 1
  for (let t = 0; t < 5; t++) L.push(`  const ge${t} = i32x4.shuffle(gv${t}, gv${t}, 0, 2, 0, 2);`);
  for (let t = 0; t < 5; t++) L.push(`  const go${t} = i32x4.shuffle(gv${t}, gv${(t + 1) % 5}, 2, 4, 2, 4);`);
  for (let i = 0; i < 10; i++) {
    L.push(`  const f${i} = <i32>load<i64>(f, ${i * 8});`);
    if (i % 2 === 0) L.push(`  const F${i} = i32x4.splat(f${i});`);
    else L.push(`  const F${i} = i32x4.replace_lane(i32x4.splat(f${i}), 0, f${i} << 1);`);
  }
  L.push('  const LANE0 = i64x2(-1, 0);');
  L.push('  const LANE1 = i64x2(0, -1);');
  const pair = (j0) => (j0 % 2 === 0 ? `ge${j0 / 2}` : `go${(j0 - 1) / 2}`);
  for (let m = 0; m < 5; m++) {
    const lo = [], wr = [];
    for (let i = 0; i < 10; i++) {
      const j0 = 2 * m - i;
      if (j0 >= 0) lo.push(`i64x2.extmul_low_i32x4_s(F${i}, ${pair(j0)})`);
      else if (j0 <= -2) wr.push(`i64x2.extmul_low_i32x4_s(F${i}, ${pair(j0 + 10)})`);
      else {
        L.push(`  const x${m} = i64x2.extmul_low_i32x4_s(F${i}, go4);`); // (g9, g0): lane 0 wraps
        wr.push(`v128.and(x${m}, LANE0)`);
        lo.push(`v128.and(x${m}, LANE1)`);
      }
    }
    const sum = (xs) => xs.reduce((a, b) => `i64x2.add(${a}, ${b})`);
    L.push(`  const l${m} = ${lo.length ? sum(lo) : 'i64x2(0, 0)'};`);
    L.push(`  const w${m} = ${wr.length ? sum(wr) : 'i64x2(0, 0)'};`);
    // l + 19 w = l + 16w + 2w + w
    L.push(`  const p${m} = i64x2.add(i64x2.add(l${m}, w${m}), i64x2.add(i64x2.shl(w${m}, 4), i64x2.shl(w${m}, 1)));`);
    L.push(`  let h${2 * m}: i64 = i64x2.extract_lane(p${m}, 0);`);
    L.push(`  let h${2 * m + 1}: i64 = i64x2.extract_lane(p${m}, 1);`);
  }
  L.push('  let c: i64;');
  L.push(carryChain('h'));
  for (let i = 0; i < 10; i++) L.push(`  store<i64>(h, h${i}, ${i * 8});`);
  L.push('}');
  return L.join('\n');
}

function genSq(name, doubled) {
  const lines = [];
  lines.push(doubled
    ? '/** h = 2 f^2. Input: a sum of at most two carried elements; h may alias f. */'
    : '/** h = f^2. Input: a sum of at most two carried elements; h may alias f. */');
  lines.push(`export function ${name}(h: usize, f: usize): void {`);
  for (let i = 0; i < 10; i++) lines.push(`  const f${i} = load<i64>(f, ${i * 8});`);
  for (let i = 0; i < 10; i++) lines.push(`  const f${i}_2 = f${i} << 1;`);
  for (let j = 1; j < 10; j++) lines.push(`  const f${j}_19 = f${j} * 19;`);
  for (let j = 1; j < 10; j += 2) lines.push(`  const f${j}_38 = f${j} * 38;`);
  for (let k = 0; k < 10; k++) {
    const terms = [];
    for (let i = 0; i < 10; i++) {
      for (let j = i; j < 10; j++) {
        if ((i + j) % 10 !== k) continue;
        const two = i % 2 === 1 && j % 2 === 1; // weight bonus
        const wrap = i + j >= 10;
        const sym = i !== j; // f_i f_j and f_j f_i
        let coef = (two ? 2 : 1) * (sym ? 2 : 1);
        // coef is 1, 2 or 4; spread it over the two factors (19 always sits on j)
        let a = `f${i}`;
        let b;
        if (coef === 4) { a = `f${i}_2`; coef = 2; }
        else if (coef === 2) { a = `f${i}_2`; coef = 1; }
        if (wrap) b = coef === 2 ? `f${j}_38` : `f${j}_19`;
        else b = coef === 2 ? `f${j}_2` : `f${j}`;
        terms.push(`${a} * ${b}`);
      }
    }
    lines.push(`  let h${k}: i64 = ${terms.join(' + ')};`);
  }
  if (doubled) for (let k = 0; k < 10; k++) lines.push(`  h${k} <<= 1;`);
  lines.push('  let c: i64;');
  lines.push(carryChain('h'));
  for (let i = 0; i < 10; i++) lines.push(`  store<i64>(h, h${i}, ${i * 8});`);
  lines.push('}');
  return lines.join('\n');
}

function constFe(name, v, doc) {
  const l = limbs(mod(v));
  return `/** ${doc} */\nexport const ${name}: usize = memory.data<i64>([${l.map((x) => `${x}`).join(', ')}], 16);`;
}

const d = mod(-121665n * inv(121666n));
const sqrtM1 = pow(2n, (P - 1n) / 4n);
if (mod(sqrtM1 * sqrtM1) !== P - 1n) throw new Error('sqrt(-1)');
const By = mod(4n * inv(5n));
// x from -x^2 + y^2 = 1 + d x^2 y^2: x^2 = (y^2 - 1) / (d y^2 + 1); B's x is the even root
const x2 = mod((By * By - 1n) * inv(d * By * By + 1n));
let Bx = pow(x2, (P + 3n) / 8n);
if (mod(Bx * Bx) !== x2) Bx = mod(Bx * sqrtM1);
if (mod(Bx * Bx) !== x2) throw new Error('B x');
if (Bx & 1n) Bx = P - Bx;

const out = `// GENERATED by gen-field.mjs: do not edit by hand (edit the generator and re-run it).
// Unrolled field multiply/square for GF(2^255-19) in radix 2^25.5 and the curve constants.
// Bounds: a carried element has |limb| <= 2^25 (even) / 2^24 (odd) plus a few bits on limbs 0,1,5;
// with inputs up to four carried elements summed, every product term is < 2^58.3 and a column of
// ten terms stays below 2^62, so i64 never overflows.

${process.env.GEN_SIMD === '1' ? genMulSimd() : genMul()}

${genSq('feSq', false)}

${genSq('feSq2', true)}

${constFe('FE_D', d, 'd = -121665/121666')}
${constFe('FE_D2', mod(2n * d), '2d')}
${constFe('FE_SQRTM1', sqrtM1, 'sqrt(-1) = 2^((p-1)/4)')}
${constFe('FE_BX', Bx, 'base point x (even)')}
${constFe('FE_BY', By, 'base point y = 4/5')}
`;
writeFileSync(fileURLToPath(new URL('./fe-gen.ts', import.meta.url)), out);
console.log('wrote fe-gen.ts');
