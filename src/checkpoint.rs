//! Checkpoints of a run, so that a long run survives interruption and resumes exactly.
//!
//! `<run>/checkpoint/` holds the ladder (and generator) as safetensors (batch-norm running
//! statistics included), the optimiser states (`adam.bin`), the curve rows so far and
//! `state.toml` (the next step and the wall time spent). All random draws of a step come from
//! counter-based streams (`ladder::rng`), so nothing else is needed for the resumed run to be
//! bit-identical to an uninterrupted one. A checkpoint is written into `checkpoint.tmp/`, then
//! swapped in by renames, so an interruption never leaves a half-written one.

use crate::cmd::run::CurveRow;
use crate::io::write_atomic;
use anyhow::{bail, Context, Result};
use dfdx::nn::{LoadFromSafetensors, SaveToSafetensors};
use gan_variants::optim::oadam::OAdam;
use ladder::optim::AdamState;
use ladder::train::Trainer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The scalar part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// The next step to run.
    pub step: u64,
    /// Wall-clock seconds spent before this checkpoint.
    pub wall_seconds: f64,
    /// The sums of the curve row in progress (steps since the last row); absent in checkpoints
    /// written at row boundaries by older builds (an empty window).
    #[serde(default)]
    pub window: Option<crate::cmd::run::Window>,
}

const MAGIC: &[u8; 8] = b"EBADAM1\0";

fn dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Writes a checkpoint of `trainer` after `state.step` steps. On any error (a full disk, say)
/// the partial `checkpoint.tmp/` is removed, the previous checkpoint stays as it was, and the
/// error names the file that could not be written.
pub fn save(
    run: &Path,
    trainer: &mut impl Trainer,
    state: &ResumeState,
    curve: &[CurveRow],
) -> Result<()> {
    save_with(run, |tmp| write_into(tmp, trainer, state, curve))
}

/// Writes a checkpoint of any kind: `write` fills the fresh folder `<run>/checkpoint.tmp/`,
/// which then replaces `<run>/checkpoint/` by renames. On error the partial folder is removed,
/// the previous checkpoint stays, and the error names the run.
pub fn save_with(run: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = run.join("checkpoint.tmp");
    let written = (|| {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        write(&tmp)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!(
            "checkpoint of {} not written (the previous one, if any, is kept)",
            run.display()
        )));
    }
    let (cur, old) = (dir(run), run.join("checkpoint.old"));
    let swap = || -> std::io::Result<()> {
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        if cur.exists() {
            std::fs::rename(&cur, &old)?;
        }
        std::fs::rename(&tmp, &cur)?;
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    };
    swap().with_context(|| format!("cannot move {} into place", cur.display()))
}

/// The folder of the newest complete checkpoint of `run` (holding `marker`), if any: a crash
/// between the two renames of [`save_with`] leaves only `checkpoint.old/`.
pub fn find(run: &Path, marker: &str) -> Option<PathBuf> {
    [dir(run), run.join("checkpoint.old")]
        .into_iter()
        .find(|d| d.join(marker).exists())
}

/// The files of a checkpoint, into the fresh folder `tmp`.
fn write_into(
    tmp: &Path,
    trainer: &mut impl Trainer,
    state: &ResumeState,
    curve: &[CurveRow],
) -> Result<()> {
    let (ladder, generator) = trainer.modules_mut();
    let path = tmp.join("ladder.safetensors");
    ladder
        .save_safetensors(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e:?}", path.display()))?;
    if let Some(g) = generator {
        let path = tmp.join("generator.safetensors");
        g.save_safetensors(&path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e:?}", path.display()))?;
    }
    write_atomic(
        &tmp.join("adam.bin"),
        &encode_adam(&trainer.optimiser_states()),
    )?;
    crate::results::write_curve(&tmp.join("curve.csv"), curve)?;
    write_atomic(&tmp.join("state.toml"), toml::to_string(state)?.as_bytes())?;
    Ok(())
}

/// Loads the checkpoint of `run` into `trainer`, if there is one. Returns its state and curve.
pub fn load(
    run: &Path,
    trainer: &mut impl Trainer,
) -> Result<Option<(ResumeState, Vec<CurveRow>)>> {
    // A crash between the two renames of `save` leaves only checkpoint.old/.
    let d = [dir(run), run.join("checkpoint.old")]
        .into_iter()
        .find(|d| d.join("state.toml").exists());
    let Some(d) = d else { return Ok(None) };
    // Errors name the checkpoint folder and the file that is wrong.
    let what = |file: &str, e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "checkpoint {}: {file} is unreadable or inconsistent ({e}); delete the folder to start the run afresh",
            d.display()
        )
    };
    let dbg = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let state: ResumeState = std::fs::read_to_string(d.join("state.toml"))
        .map_err(|e| what("state.toml", &e))
        .and_then(|t| toml::from_str(&t).map_err(|e| what("state.toml", &e)))?;
    let (ladder, generator) = trainer.modules_mut();
    ladder
        .load_safetensors(d.join("ladder.safetensors"))
        .map_err(|e| what("ladder.safetensors", &dbg(&e)))?;
    if let Some(g) = generator {
        g.load_safetensors(d.join("generator.safetensors"))
            .map_err(|e| what("generator.safetensors", &dbg(&e)))?;
    }
    let states = std::fs::read(d.join("adam.bin"))
        .map_err(|e| what("adam.bin", &e))
        .and_then(|b| decode_adam(&b).map_err(|e| what("adam.bin", &format!("{e:#}"))))?;
    trainer
        .set_optimiser_states(&states)
        .map_err(|e| what("adam.bin", &dbg(&e)))?;
    // The curve rows so far and the open row must add up to the checkpoint's step: a resumed
    // run never finishes with rows silently missing.
    let curve = crate::results::read_curve(&d.join("curve.csv"), u64::MAX)
        .map_err(|e| what("curve.csv", &format!("{e:#}")))?;
    let window_ok = state
        .window
        .as_ref()
        .is_none_or(|w| w.is_valid() && w.steps() <= state.step);
    if !(state.wall_seconds.is_finite() && state.wall_seconds >= 0.0)
        || state.step >= trainer.total_steps()
        || !window_ok
    {
        return Err(what(
            "state.toml",
            &format!(
                "step {} of {}, wall time {}, open row {:?}",
                state.step,
                trainer.total_steps(),
                state.wall_seconds,
                state.window
            ),
        ));
    }
    let rows_end = curve.last().map_or(0, |r| r.step + 1);
    let open = state.window.as_ref().map_or(0, |w| w.steps());
    if state.step == 0 || rows_end.checked_add(open) != Some(state.step) {
        return Err(what(
            "state.toml or curve.csv",
            &format!(
                "curve.csv covers {rows_end} steps and the open row {open}, but state.toml says {} steps are done",
                state.step
            ),
        ));
    }
    Ok(Some((state, curve)))
}

/// Removes the checkpoint of a finished run.
pub fn remove(run: &Path) -> Result<()> {
    for d in [
        dir(run),
        run.join("checkpoint.old"),
        run.join("checkpoint.tmp"),
    ] {
        if d.exists() {
            std::fs::remove_dir_all(&d)
                .with_context(|| format!("cannot remove {}", d.display()))?;
        }
    }
    Ok(())
}

/// Optimiser states as bytes: magic, count, then per optimiser t (i32), tensor count (u32),
/// and per tensor its length (u64) and both moments (f32, little-endian).
pub fn encode_adam(states: &[AdamState]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend((states.len() as u32).to_le_bytes());
    for s in states {
        b.extend(s.t.to_le_bytes());
        b.extend((s.moment1.len() as u32).to_le_bytes());
        for (m1, m2) in s.moment1.iter().zip(&s.moment2) {
            b.extend((m1.len() as u64).to_le_bytes());
            m1.iter().chain(m2).for_each(|v| b.extend(v.to_le_bytes()));
        }
    }
    b
}

/// Inverse of [`encode_adam`].
pub fn decode_adam(b: &[u8]) -> Result<Vec<AdamState>> {
    let mut pos = 0;
    let mut take = |n: usize| -> Result<&[u8]> {
        if n > b.len() - pos {
            bail!("optimiser state truncated at byte {pos}");
        }
        pos += n;
        Ok(&b[pos - n..pos])
    };
    if take(8)? != MAGIC {
        bail!("not an optimiser state file");
    }
    let count = u32::from_le_bytes(take(4)?.try_into()?);
    let mut out = Vec::new();
    for _ in 0..count {
        let t = i32::from_le_bytes(take(4)?.try_into()?);
        let n = u32::from_le_bytes(take(4)?.try_into()?);
        let (mut moment1, mut moment2) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let len = usize::try_from(u64::from_le_bytes(take(8)?.try_into()?))
                .ok()
                .and_then(|n| n.checked_mul(4))
                .context("optimiser state: a tensor length beyond memory")?
                / 4;
            let floats = |bytes: &[u8]| {
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect::<Vec<f32>>()
            };
            moment1.push(floats(take(4 * len)?));
            moment2.push(floats(take(4 * len)?));
        }
        out.push(AdamState {
            t,
            moment1,
            moment2,
        });
    }
    Ok(out)
}

const NET_MAGIC_V1: &[u8; 8] = b"EBNET1\0\0";
const NET_MAGIC: &[u8; 8] = b"EBNET2\0\0";

/// Appends a length (u64) and the values (f32, little-endian).
fn put_floats(b: &mut Vec<u8>, v: &[f32]) {
    b.extend((v.len() as u64).to_le_bytes());
    v.iter().for_each(|x| b.extend(x.to_le_bytes()));
}

/// Appends a count (u32) and [`put_floats`] of each tensor.
fn put_tensors(b: &mut Vec<u8>, ts: &[Vec<f32>]) {
    b.extend((ts.len() as u32).to_le_bytes());
    ts.iter().for_each(|t| put_floats(b, t));
}

/// Optimistic Adam's state as bytes: t (u64), lr, β₁, β₂, ε (f32), then m, v and the previous
/// direction as [`put_floats`].
fn encode_oadam(o: &OAdam) -> Vec<u8> {
    let mut b = o.t.to_le_bytes().to_vec();
    for x in [o.lr, o.beta1, o.beta2, o.eps] {
        b.extend(x.to_le_bytes());
    }
    for v in [&o.m, &o.v, &o.prev] {
        put_floats(&mut b, v);
    }
    b
}

/// A network's parameters, optimiser state and buffers (`gan_variants::nets::NetState`) as
/// bytes: magic `EBNET2`, the parameters as a tensor count (u32) and per tensor its length
/// (u64) and values (f32, little-endian); an optimiser flag (0 none, 1 Adam, 2 OAdam) and,
/// unless 0, the state's byte length (u64) and bytes ([`encode_adam`] of one state, or OAdam's
/// t, settings, m, v, previous direction); then the buffers as the parameters. `EBNET1` files
/// (before OAdam and buffers: Adam's bytes run to the end) still decode.
pub fn encode_net(s: &gan_variants::nets::NetState) -> Vec<u8> {
    let mut b = NET_MAGIC.to_vec();
    put_tensors(&mut b, &s.params);
    let (flag, opt) = match (&s.adam, &s.oadam) {
        (Some(a), _) => (1u8, encode_adam(std::slice::from_ref(a))),
        (None, Some(o)) => (2, encode_oadam(o)),
        (None, None) => (0, Vec::new()),
    };
    b.push(flag);
    if flag != 0 {
        b.extend((opt.len() as u64).to_le_bytes());
        b.extend(opt);
    }
    put_tensors(&mut b, &s.buffers);
    b
}

/// A cursor over bytes whose errors say where they are wrong.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.b.len() - self.pos {
            bail!("network state truncated at byte {}", self.pos);
        }
        self.pos += n;
        Ok(&self.b[self.pos - n..self.pos])
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn floats(&mut self) -> Result<Vec<f32>> {
        let len = usize::try_from(self.u64()?)
            .ok()
            .and_then(|n| n.checked_mul(4))
            .context("network state: a tensor length beyond memory")?;
        Ok(self
            .take(len)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    fn tensors(&mut self) -> Result<Vec<Vec<f32>>> {
        let count = u32::from_le_bytes(self.take(4)?.try_into()?);
        (0..count).map(|_| self.floats()).collect()
    }
}

fn one_adam(b: &[u8]) -> Result<AdamState> {
    let mut states = decode_adam(b)?;
    if states.len() != 1 {
        bail!(
            "network state: {} optimiser states, expected 1",
            states.len()
        );
    }
    Ok(states.pop().expect("one"))
}

/// Inverse of [`encode_net`] (also of the older `EBNET1` layout); errors say where the bytes
/// are wrong.
pub fn decode_net(b: &[u8]) -> Result<gan_variants::nets::NetState> {
    let mut r = Reader { b, pos: 0 };
    let magic = r.take(8)?;
    let v1 = magic == NET_MAGIC_V1;
    if !v1 && magic != NET_MAGIC {
        bail!("not a network state file");
    }
    let params = r.tensors()?;
    let flag = r.take(1)?[0];
    let (mut adam, mut oadam) = (None, None);
    if v1 {
        match flag {
            0 if r.pos == b.len() => {}
            0 => bail!("network state: {} bytes after the end", b.len() - r.pos),
            1 => adam = Some(one_adam(&b[r.pos..])?),
            f => bail!("network state: optimiser flag {f}"),
        }
        return Ok(gan_variants::nets::NetState {
            params,
            adam,
            oadam,
            buffers: Vec::new(),
        });
    }
    if flag > 2 {
        bail!("network state: optimiser flag {flag}");
    }
    if flag != 0 {
        let len = usize::try_from(r.u64()?).context("network state: optimiser length")?;
        let bytes = r.take(len)?;
        if flag == 1 {
            adam = Some(one_adam(bytes)?);
        } else {
            let mut o = Reader { b: bytes, pos: 0 };
            let t = o.u64()?;
            let (lr, beta1, beta2, eps) = (o.f32()?, o.f32()?, o.f32()?, o.f32()?);
            let (m, v, prev) = (o.floats()?, o.floats()?, o.floats()?);
            if o.pos != bytes.len() || m.len() != v.len() || m.len() != prev.len() {
                bail!("network state: inconsistent OAdam state");
            }
            oadam = Some(OAdam {
                lr,
                beta1,
                beta2,
                eps,
                t,
                m,
                v,
                prev,
            });
        }
    }
    let buffers = r.tensors()?;
    if r.pos != b.len() {
        bail!("network state: {} bytes after the end", b.len() - r.pos);
    }
    Ok(gan_variants::nets::NetState {
        params,
        adam,
        oadam,
        buffers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_state_round_trips_and_truncation_is_an_error() {
        let s = vec![AdamState {
            t: 7,
            moment1: vec![vec![1.0, -2.5], vec![3.0]],
            moment2: vec![vec![0.5, 0.25], vec![9.0]],
        }];
        let b = encode_adam(&s);
        assert_eq!(decode_adam(&b).unwrap(), s);
        assert!(decode_adam(&b[..b.len() - 1]).is_err());
        assert!(decode_adam(b"nonsense").is_err());
    }

    #[test]
    fn net_state_round_trips_and_truncation_is_an_error() {
        let s = gan_variants::nets::NetState {
            params: vec![vec![1.0, -2.5, 4.0], vec![0.125]],
            adam: Some(AdamState {
                t: 3,
                moment1: vec![vec![0.1, 0.2, 0.3], vec![0.4]],
                moment2: vec![vec![1.1, 1.2, 1.3], vec![1.4]],
            }),
            oadam: None,
            buffers: vec![vec![0.6, 0.8]],
        };
        let b = encode_net(&s);
        assert_eq!(decode_net(&b).unwrap(), s);
        for cut in [1, 5, b.len() / 2] {
            assert!(decode_net(&b[..b.len() - cut]).is_err(), "cut {cut}");
        }
        let plain = gan_variants::nets::NetState {
            params: s.params.clone(),
            adam: None,
            oadam: None,
            buffers: Vec::new(),
        };
        assert_eq!(decode_net(&encode_net(&plain)).unwrap(), plain);
        let mut o = OAdam::new(2, 4e-4, 0.5, 0.9, 1e-8);
        o.step(&mut [1.0, 2.0], &[0.5, -0.25]);
        let optimistic = gan_variants::nets::NetState {
            oadam: Some(o),
            ..plain.clone()
        };
        let b = encode_net(&optimistic);
        assert_eq!(decode_net(&b).unwrap(), optimistic);
        for cut in [1, 5, b.len() / 2] {
            assert!(decode_net(&b[..b.len() - cut]).is_err(), "cut {cut}");
        }
        assert!(decode_net(b"EBADAM1\0junk").is_err());
    }

    /// A file of the first layout (magic EBNET1, Adam's bytes to the end, no buffers) still
    /// reads: checkpoints of runs in progress survive the format change.
    #[test]
    fn first_layout_still_decodes() {
        let params = vec![vec![1.0f32, 2.0]];
        let adam = AdamState {
            t: 2,
            moment1: vec![vec![0.1, 0.2]],
            moment2: vec![vec![0.3, 0.4]],
        };
        let mut b = NET_MAGIC_V1.to_vec();
        put_tensors(&mut b, &params);
        b.push(1);
        b.extend(encode_adam(std::slice::from_ref(&adam)));
        let s = decode_net(&b).unwrap();
        assert_eq!((s.params, s.adam, s.buffers.len()), (params, Some(adam), 0));
    }
}
