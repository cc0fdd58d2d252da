//! Seeded mutations of corpus entries, for the stable replay: the same few
//! edits libFuzzer starts from (bit flips, byte changes, insertions, deletions,
//! duplications, splices, truncation), reproducible from the seed.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

/// Mutated inputs never grow past this.
const MAX_LEN: usize = 4096;

/// Bytes that often matter to the parsers and decoders.
const INTERESTING: &[u8] = b"\0\xff\x7f\n\"'=[]{}.,#\\/ 0123456789";

fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

/// A new input: random bytes (one time in eight, or when there is no seed
/// input), else an entry of `seeds` with one to six edits.
pub(crate) fn input(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || below(rng, 8) == 0 {
        let mut bytes = vec![0; below(rng, 512)];
        rng.fill_bytes(&mut bytes);
        return bytes;
    }
    let mut data = seeds[below(rng, seeds.len())].clone();
    for _ in 0..=below(rng, 6) {
        edit(rng, &mut data, seeds);
    }
    data.truncate(MAX_LEN);
    data
}

fn edit(rng: &mut ChaCha8Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = below(rng, data.len() + 1);
    let len = 1 + below(rng, 16);
    match below(rng, 8) {
        0 if at < data.len() => data[at] ^= 1 << below(rng, 8),
        1 if at < data.len() => data[at] = rng.next_u32() as u8,
        2 if at < data.len() => data[at] = INTERESTING[below(rng, INTERESTING.len())],
        3 => {
            let mut bytes = vec![0; len];
            rng.fill_bytes(&mut bytes);
            data.splice(at..at, bytes);
        }
        4 => {
            let end = (at + len).min(data.len());
            data.drain(at..end);
        }
        5 => {
            let end = (at + len).min(data.len());
            let chunk = data[at..end].to_vec();
            let to = below(rng, data.len() + 1);
            data.splice(to..to, chunk);
        }
        6 => {
            let other = &seeds[below(rng, seeds.len())];
            let from = below(rng, other.len() + 1);
            let end = (from + len * 4).min(other.len());
            data.splice(at..at, other[from..end].iter().copied());
        }
        _ => data.truncate(at),
    }
}
