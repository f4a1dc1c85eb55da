//! The simulator's random numbers: small, fast and the same on every machine for a given seed.
//!
//! Every random choice of a run comes from a generator seeded from the scenario's seed: the arrival
//! process has its own stream, each call attempt derives its own generator from the seed, the
//! request number and the attempt (so that a request meets the same upstream in every
//! configuration compared: common random numbers), and the breaker's jitter has a third stream.

/// xoshiro256++ (Blackman and Vigna), seeded through splitmix64.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of splitmix64: a good 64-bit mix, used for seeding and for deriving sub-streams.
pub fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Rng {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
        }
    }

    /// A generator for the sub-stream `(seed, a, b)`: the same triple always gives the same
    /// numbers, whatever else the run did.
    pub fn derive(seed: u64, a: u64, b: u64) -> Self {
        let mut x =
            seed ^ a.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ b.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        let _ = splitmix64(&mut x);
        Rng::new(x)
    }

    /// A uniform `u64`.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform `u32`.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    #[inline]
    fn open01(&mut self) -> f64 {
        1.0 - self.f64()
    }

    /// Whether an event of probability `p` happens.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.f64() < p
    }

    /// Exponentially distributed with mean 1.
    #[inline]
    pub fn exp1(&mut self) -> f64 {
        -self.open01().ln()
    }

    /// Standard normal (Box-Muller, one of the pair).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.open01().ln()).sqrt();
        r * (core::f64::consts::TAU * self.f64()).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_different_seed_differs() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(1);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(1);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(2);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            Rng::derive(1, 2, 3).next_u64(),
            Rng::derive(1, 3, 2).next_u64()
        );
    }

    #[test]
    fn distributions_have_their_means() {
        let mut r = Rng::new(9);
        let n = 200_000;
        let exp: f64 = (0..n).map(|_| r.exp1()).sum::<f64>() / n as f64;
        let normal: f64 = (0..n).map(|_| r.normal()).sum::<f64>() / n as f64;
        let uni: f64 = (0..n).map(|_| r.f64()).sum::<f64>() / n as f64;
        assert!((exp - 1.0).abs() < 0.02, "{exp}");
        assert!(normal.abs() < 0.02, "{normal}");
        assert!((uni - 0.5).abs() < 0.01, "{uni}");
    }
}
