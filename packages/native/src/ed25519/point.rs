//! Points of edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2) in extended coordinates (X:Y:Z:T),
//! x = X/Z, y = Y/Z, xy = T/Z; formulas of Hisil-Wong-Carter-Dawson 2008 for a = -1.

use super::field::{Fe, D, D2, ONE, ZERO};

#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub x: Fe,
    pub y: Fe,
    pub z: Fe,
    pub t: Fe,
}

/// A point prepared as an addend: (Y + X, Y - X, 2Z, 2dT).
#[derive(Clone, Copy, Debug)]
pub struct Cached {
    ypx: Fe,
    ymx: Fe,
    z2: Fe,
    t2d: Fe,
}

/// An affine point (Z = 1) prepared as an addend: (y + x, y - x, 2dxy). Adding it costs one
/// multiplication less than a `Cached` one (2 Z1 Z2 becomes 2 Z1).
#[derive(Clone, Copy, Debug)]
pub struct Niels {
    ypx: Fe,
    ymx: Fe,
    xy2d: Fe,
}

pub const IDENTITY: Point = Point { x: ZERO, y: ONE, z: ONE, t: ZERO };

pub const BASE: Point = Point {
    x: Fe([1738742601995546, 1146398526822698, 2070867633025821, 562264141797630, 587772402128613]),
    y: Fe([1801439850948184, 1351079888211148, 450359962737049, 900719925474099, 1801439850948198]),
    z: ONE,
    t: Fe([1841354044333475, 16398895984059, 755974180946558, 900171276175154, 1821297809914039]),
};

impl Point {
    /// ZIP-215 decoding: y is the low 255 bits taken mod p (non-canonical y accepted), the top
    /// bit is the sign of x; x = 0 with the sign bit set is accepted (-0 = 0). None when
    /// (y^2 - 1) / (d y^2 + 1) is not a square.
    pub fn decompress(b: &[u8; 32]) -> Option<Point> {
        let d = Decompressing::start(b);
        let w = d.w.pow_p58();
        d.finish(&w)
    }

    pub fn neg(&self) -> Point {
        Point { x: self.x.neg(), y: self.y, z: self.z, t: self.t.neg() }
    }

    pub fn cached(&self) -> Cached {
        Cached { ypx: self.y.add(&self.x), ymx: self.y.sub(&self.x), z2: self.z.add(&self.z), t2d: self.t.mul(&D2) }
    }

    /// The Niels form of a point whose Z is 1 (decoded points, the base point).
    pub fn niels_affine(&self) -> Niels {
        debug_assert!(self.z.sub(&ONE).is_zero());
        Niels { ypx: self.y.add(&self.x), ymx: self.y.sub(&self.x), xy2d: self.t.mul(&D2) }
    }

    #[inline]
    pub fn add_niels(&self, q: &Niels) -> Point {
        let a = self.y.sub(&self.x).mul(&q.ymx);
        let b = self.y.add(&self.x).mul(&q.ypx);
        let c = self.t.mul(&q.xy2d);
        let d = self.z.add(&self.z);
        self.finish(a, b, c, d)
    }

    #[inline]
    pub fn sub_niels(&self, q: &Niels) -> Point {
        let a = self.y.sub(&self.x).mul(&q.ypx);
        let b = self.y.add(&self.x).mul(&q.ymx);
        let c = self.t.mul(&q.xy2d).neg();
        let d = self.z.add(&self.z);
        self.finish(a, b, c, d)
    }

    #[inline]
    pub fn add_cached(&self, q: &Cached) -> Point {
        let a = self.y.sub(&self.x).mul(&q.ymx);
        let b = self.y.add(&self.x).mul(&q.ypx);
        let c = self.t.mul(&q.t2d);
        let d = self.z.mul(&q.z2);
        self.finish(a, b, c, d)
    }

    #[inline]
    pub fn sub_cached(&self, q: &Cached) -> Point {
        let a = self.y.sub(&self.x).mul(&q.ypx);
        let b = self.y.add(&self.x).mul(&q.ymx);
        let c = self.t.mul(&q.t2d).neg();
        let d = self.z.mul(&q.z2);
        self.finish(a, b, c, d)
    }

    #[inline(always)]
    fn finish(&self, a: Fe, b: Fe, c: Fe, d: Fe) -> Point {
        let e = b.sub(&a);
        let f = d.sub(&c);
        let g = d.add(&c);
        let h = b.add(&a);
        Point { x: e.mul(&f), y: g.mul(&h), z: f.mul(&g), t: e.mul(&h) }
    }

    pub fn add(&self, q: &Point) -> Point {
        self.add_cached(&q.cached())
    }

    #[inline]
    pub fn double(&self) -> Point {
        let a = self.x.square();
        let b = self.y.square();
        let zz = self.z.square();
        let c = zz.add(&zz);
        let d = a.neg();
        let e = self.x.add(&self.y).square().sub(&a).sub(&b);
        let g = d.add(&b);
        let f = g.sub(&c);
        let h = d.sub(&b);
        Point { x: e.mul(&f), y: g.mul(&h), z: f.mul(&g), t: e.mul(&h) }
    }

    pub fn mul_by_cofactor(&self) -> Point {
        self.double().double().double()
    }

    pub fn is_identity(&self) -> bool {
        self.x.is_zero() && self.y.sub(&self.z).is_zero()
    }
}

/// Point decoding split around its one expensive step (the exponentiation of `w`), so that
/// callers can run eight of those at once (see ifma.rs).
pub struct Decompressing {
    y: Fe,
    u: Fe,
    v: Fe,
    uv3: Fe,
    sign: bool,
    /// Raise this to (p - 5) / 8 and pass the result to `finish`.
    pub w: Fe,
}

impl Decompressing {
    pub fn start(b: &[u8; 32]) -> Decompressing {
        let y = Fe::from_bytes(b);
        let sign = b[31] >> 7 == 1;
        let yy = y.square();
        let u = yy.sub(&ONE);
        let v = D.mul(&yy).add(&ONE);
        let (uv3, w) = Fe::sqrt_ratio_prepare(&u, &v);
        Decompressing { y, u, v, uv3, sign, w }
    }

    pub fn finish(&self, w_p58: &Fe) -> Option<Point> {
        let mut x = Fe::sqrt_ratio_finish(&self.u, &self.v, &self.uv3, w_p58)?;
        if x.is_negative() != self.sign {
            x = x.neg();
        }
        Some(Point { x, y: self.y, z: ONE, t: x.mul(&self.y) })
    }
}
