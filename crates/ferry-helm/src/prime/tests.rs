#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use num_bigint_dig::prime::probably_prime;
use num_bigint_dig::RandBigInt as _;

fn rng(seed: &str) -> DetRng {
    DetRng::new(&[b"prime-test", seed.as_bytes()])
}

fn random_odd(rng: &mut DetRng, bits: usize) -> BigUint {
    rng.gen_biguint(bits) | (BigUint::from(1u32) << (bits - 1)) | BigUint::from(1u32)
}

#[test]
fn modpow_matches_num_bigint() {
    let mut r = rng("modpow");
    for bits in [
        2, 3, 17, 63, 64, 65, 100, 128, 192, 256, 500, 512, 768, 1000, 1024, 1536, 2047, 2048,
        3072, 4096,
    ] {
        let cases = if bits >= 2048 { 3 } else { 8 };
        for case in 0..cases {
            let n = random_odd(&mut r, bits);
            let base = r.gen_biguint(bits + 8);
            let ebits = [0, 1, 2, 5, 64, 200, bits, bits + 64][case % 8];
            let exp = if ebits == 0 {
                BigUint::from(0u32)
            } else {
                r.gen_biguint(ebits)
            };
            let want = base.modpow(&exp, &n);
            let got = modpow(&base, &exp, &n);
            assert_eq!(got, Some(want), "bits {bits} case {case}");
        }
        // the extremes of the residues: n - 1 and 0
        let n = random_odd(&mut r, bits);
        let exp = r.gen_biguint(bits);
        let nm1 = &n - 1u32;
        assert_eq!(modpow(&nm1, &exp, &n), Some(nm1.modpow(&exp, &n)));
        assert_eq!(
            modpow(&BigUint::from(0u32), &exp, &n),
            Some(BigUint::from(0u32).modpow(&exp, &n))
        );
    }
}

#[test]
fn base2_power_matches_num_bigint() {
    let mut r = rng("pow2");
    for bits in [64, 130, 1024, 2048] {
        for _ in 0..4 {
            let n = random_odd(&mut r, bits);
            let exp = r.gen_biguint(bits);
            let want = BigUint::from(2u32).modpow(&exp, &n);
            let got = match bits.div_ceil(64) {
                1 => pow2_plain::<1>(&n, &exp),
                3 => pow2_plain::<4>(&n, &exp),
                16 => pow2_plain::<16>(&n, &exp),
                _ => pow2_plain::<32>(&n, &exp),
            };
            assert_eq!(got, want, "bits {bits}");
        }
    }
}

fn pow2_plain<const N: usize>(n: &BigUint, exp: &BigUint) -> BigUint {
    let m = Mont::<N>::new(biguint_limbs::<N>(n).unwrap()).unwrap();
    let e = biguint_limbs::<N>(exp).unwrap();
    limbs_to_biguint(&m.out_of_mont(&m.pow2(&e)))
}

#[test]
fn generated_primes_are_prime_and_well_formed() {
    let mut r = rng("gen");
    for (bits, count) in [
        (64, 20),
        (100, 10),
        (256, 10),
        (512, 6),
        (1024, 6),
        (2048, 2),
    ] {
        for _ in 0..count {
            let p = gen_prime(&mut r, bits, 65_537, 2).unwrap();
            assert_eq!(p.bits(), bits);
            assert_eq!(&p >> (bits - 2), BigUint::from(3u32));
            assert!(probably_prime(&p, 20), "{p}");
            let pm1 = &p - 1u32;
            assert_ne!(&pm1 % 65_537u32, BigUint::from(0u32));
        }
    }
    // sizes outside the fast path are declined
    assert!(gen_prime(&mut r, 32, 65_537, 1).is_none());
    assert!(gen_prime(&mut r, 4097, 65_537, 1).is_none());
    assert!(gen_prime(&mut r, 1024, 4, 1).is_none());
}

#[test]
fn result_does_not_depend_on_threads() {
    for seed in ["a", "b", "c"] {
        let one = gen_prime(&mut rng(seed), 1024, 65_537, 1).unwrap();
        for threads in [2, 3, 8] {
            let mut r = rng(seed);
            assert_eq!(gen_prime(&mut r, 1024, 65_537, threads).unwrap(), one);
        }
    }
    assert_ne!(
        gen_prime(&mut rng("a"), 1024, 65_537, 2),
        gen_prime(&mut rng("b"), 1024, 65_537, 2)
    );
    // several searches at once: each prime is the one its generator gives alone, and each
    // generator ends where it would alone
    let sizes = [1024, 1024, 512, 1000];
    let alone: Vec<(BigUint, [u8; 32])> = (0..sizes.len())
        .map(|i| {
            let mut r = rng(&format!("multi{i}"));
            let p = gen_prime(&mut r, sizes[i], 65_537, 1).unwrap();
            (p, r.fingerprint())
        })
        .collect();
    for threads in [1, 2, 4] {
        let mut rngs: Vec<DetRng> = (0..sizes.len())
            .map(|i| rng(&format!("multi{i}")))
            .collect();
        let primes = gen_primes(&mut rngs, &sizes, 65_537, threads).unwrap();
        for (i, p) in primes.into_iter().enumerate() {
            assert_eq!(p, alone[i].0);
            assert_eq!(rngs[i].fingerprint(), alone[i].1);
        }
    }
}

/// Drives the scheduler by hand through the paths random 1024-bit candidates practically
/// never take: a survivor that passes base 2 but fails a random-base round, an abandoned
/// test, and a window with no prime.
#[test]
fn scheduler_recovers_from_rare_outcomes() {
    let cutoffs = [AtomicUsize::new(usize::MAX)];
    let mut st = Scheduler::<1> {
        searches: vec![Search {
            rng: rng("sched"),
            bits: 64,
            rounds: 2,
            windows: 0,
            start: [0],
            survivors: Vec::new(),
            status: Vec::new(),
            resume: 0,
            phase: Phase::NeedSieve,
        }],
        e: 65_537,
    };
    let Some(Task::Sieve { start, .. }) = st.next_task(&cutoffs) else {
        panic!("a sieve first")
    };
    assert_eq!(start[0] >> 62, 3);
    assert_eq!(start[0] & 1, 1);
    let sieved = |survivors: Vec<u32>| Outcome::Sieved {
        search: 0,
        survivors,
    };
    let tested = |index, prime| Outcome::Tested {
        search: 0,
        index,
        prime,
    };
    let claim = |st: &mut Scheduler<1>| match st.next_task(&cutoffs) {
        Some(Task::Test { index, .. }) => Some(index),
        Some(_) => panic!("a test"),
        None => None,
    };
    // a window with no prime: a new window is drawn
    st.apply(sieved(vec![0]), &cutoffs);
    assert_eq!(claim(&mut st), Some(0));
    assert_eq!(claim(&mut st), None);
    st.apply(tested(0, Some(false)), &cutoffs);
    let Some(Task::Sieve { start, .. }) = st.next_task(&cutoffs) else {
        panic!("a new window")
    };
    st.apply(sieved(vec![1, 2, 3, 4, 5]), &cutoffs);
    assert_eq!(claim(&mut st), Some(0));
    assert_eq!(claim(&mut st), Some(1));
    // survivor 1 passes: later survivors are no longer handed out (and would be abandoned)
    st.apply(tested(1, Some(true)), &cutoffs);
    assert_eq!(cutoffs[0].load(Ordering::Relaxed), 1);
    assert_eq!(claim(&mut st), None);
    // survivor 0 fails: survivor 1 is the first to pass and gets its rounds
    st.apply(tested(0, Some(false)), &cutoffs);
    let round = |st: &mut Scheduler<1>| match st.next_task(&cutoffs) {
        Some(Task::Round { index, n, .. }) => (index, n),
        _ => panic!("a round"),
    };
    let (index, n) = round(&mut st);
    assert_eq!((index, n[0]), (1, start[0] + 2 * 2));
    let _ = round(&mut st);
    // one round fails: the search goes on after survivor 1
    st.apply(
        Outcome::Rounded {
            search: 0,
            index: 1,
            pass: false,
        },
        &cutoffs,
    );
    assert_eq!(cutoffs[0].load(Ordering::Relaxed), usize::MAX);
    assert_eq!(claim(&mut st), Some(2));
    // the late result of the other round is ignored
    st.apply(
        Outcome::Rounded {
            search: 0,
            index: 1,
            pass: true,
        },
        &cutoffs,
    );
    // an abandoned test is handed out again
    st.apply(tested(2, None), &cutoffs);
    assert_eq!(claim(&mut st), Some(2));
    st.apply(tested(2, Some(true)), &cutoffs);
    for _ in 0..2 {
        let (index, _) = round(&mut st);
        assert_eq!(index, 2);
        assert!(!st.all_done());
        st.apply(
            Outcome::Rounded {
                search: 0,
                index,
                pass: true,
            },
            &cutoffs,
        );
    }
    assert!(st.all_done());
    assert!(matches!(st.searches[0].phase, Phase::Done(Some([p])) if p == start[0] + 2 * 3));
}

#[test]
fn sieve_residues_are_exact() {
    let sp = SmallPrimes::new(1 << 16);
    let mut r = rng("residues");
    for limbs in [1usize, 4, 16, 64] {
        let conv = sp.conversion(limbs);
        for _ in 0..4 {
            let x = r.gen_biguint(64 * limbs);
            let bytes = x.to_bytes_le();
            let mut limbs_of_x = vec![0u64; limbs];
            for (i, b) in bytes.iter().enumerate() {
                limbs_of_x[i / 8] |= u64::from(*b) << (8 * (i % 8));
            }
            let mut res = Vec::new();
            residues(&limbs_of_x, &sp, &conv, &mut res);
            assert_eq!(res.len(), sp.p.len());
            for (p, r) in sp.p.iter().zip(&res) {
                assert_eq!(BigUint::from(*r), &x % *p);
            }
        }
    }
    for p in [3u32, 5, 65_537, 1_000_003] {
        for r in 0..p.min(50) {
            for target in [0, 1] {
                let k = first_hit(r, target, p);
                assert!(k < p as usize);
                assert_eq!(
                    (u64::from(r) + 2 * k as u64) % u64::from(p),
                    u64::from(target)
                );
            }
        }
    }
}

fn passes_base2_only<const N: usize, const CLASS: usize>(n: &BigUint) -> bool {
    Mont::<N>::new(biguint_limbs::<N>(n).unwrap())
        .unwrap()
        .strong_base2()
}

/// Chernick's Carmichael numbers (6k+1)(12k+1)(18k+1), with the three factors prime.
fn chernick(r: &mut DetRng, kbits: usize) -> BigUint {
    loop {
        let k = r.gen_biguint(kbits);
        let f = [6u32, 12, 18].map(|m| &k * m + 1u32);
        if f.iter().all(|f| probably_prime(f, 20)) {
            return f.iter().product();
        }
    }
}

#[test]
fn composites_are_rejected() {
    let mut r = rng("composites");
    // Carmichael numbers, and strong pseudoprimes to base 2 (2047, 3215031751 = 151*751*28351,
    // the spsp to bases 2..11 2152302898747, and 3825123056546413051, spsp to bases 2..23)
    let small: [u64; 14] = [
        561,
        1105,
        1729,
        2465,
        41041,
        825_265,
        321_197_185,
        5_394_826_801,
        232_250_619_601,
        9_746_347_772_161,
        2047,
        3_215_031_751,
        2_152_302_898_747,
        3_825_123_056_546_413_051,
    ];
    for n in small {
        let n = BigUint::from(n);
        assert!(!is_probable_prime(&n, 10, &mut r), "{n}");
    }
    // the base-2 test alone is fooled by the strong pseudoprimes; the random rounds are not
    for n in [3_215_031_751u64, 3_825_123_056_546_413_051] {
        let m = Mont::<1>::new([n]).unwrap();
        assert!(m.strong_base2());
    }
    // composite Mersenne numbers 2^p - 1 (p prime) are strong pseudoprimes to base 2; these
    // are about the size of RSA-2048's primes, and of RSA-4096's
    for p in [1021usize, 1031, 1033, 1039, 2039] {
        let n = (BigUint::from(1u32) << p) - 1u32;
        assert!(by_size!(
            n.bits().div_ceil(64),
            false,
            passes_base2_only(&n)
        ));
        assert!(!is_probable_prime(&n, mr_rounds(p), &mut r), "2^{p} - 1");
    }
    // Carmichael numbers
    for kbits in [20, 40, 60] {
        let n = chernick(&mut r, kbits);
        assert!(!is_probable_prime(&n, 10, &mut r), "{n}");
    }
    // RSA moduli (products of two 512-bit primes) and squares of primes
    for _ in 0..5 {
        let p = gen_prime(&mut r, 512, 65_537, 1).unwrap();
        let q = gen_prime(&mut r, 512, 65_537, 1).unwrap();
        assert!(!is_probable_prime(&(&p * &q), 5, &mut r));
        assert!(!is_probable_prime(&(&p * &p), 5, &mut r));
        assert!(is_probable_prime(&p, 5, &mut r));
    }
    // known primes
    for p in [2u64, 3, 5, 65_537, 1_000_003, 2_305_843_009_213_693_951] {
        assert!(is_probable_prime(&BigUint::from(p), 10, &mut r), "{p}");
    }
    let m127 = (BigUint::from(1u32) << 127usize) - 1u32;
    assert!(is_probable_prime(&m127, 10, &mut r));
    let m521 = (BigUint::from(1u32) << 521usize) - 1u32;
    assert!(is_probable_prime(&m521, 10, &mut r));
    assert!(!is_probable_prime(&(&m521 + 2u32), 10, &mut r));
}
