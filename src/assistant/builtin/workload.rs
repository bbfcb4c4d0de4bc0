//! Sizing a workload: "which GPU for a 70B model?", "will a 13B model fit on a 4090?". A
//! model's parameters times the bytes each takes (by the precision said, fp16 when none)
//! give the memory it needs; the inventory then says which cards hold it and how many. The
//! figures are the usual rules of thumb, said as such: inference takes the weights plus a
//! fifth for activations and cache; full training with Adam takes about 16 bytes per
//! parameter, fine-tuning with LoRA about the weights plus a quarter.

use crate::domain::Inventory;

/// A workload said in a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// Parameters, in billions.
    pub params_b: f64,
    /// Bytes per parameter of the precision said, and whether it was said.
    pub bytes: f64,
    pub precision_said: bool,
    pub kind: Kind,
}

/// What is done with the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Inference,
    /// "fine-tune ... with LoRA/QLoRA".
    Lora,
    /// "train", "fine-tune" (all weights).
    Training,
}

impl Workload {
    /// The GPU memory it needs, in GB.
    pub fn need_gb(&self) -> f64 {
        match self.kind {
            Kind::Inference => self.params_b * self.bytes * 1.2,
            Kind::Lora => self.params_b * self.bytes * 1.25,
            Kind::Training => self.params_b * 16.0,
        }
    }

    /// How the need was worked out, in words.
    pub fn reasoning(&self) -> String {
        let precision = match self.bytes {
            b if b >= 4.0 => "fp32 (4 bytes per parameter)",
            b if b >= 2.0 => "fp16/bf16 (2 bytes per parameter)",
            b if b >= 1.0 => "8-bit (1 byte per parameter)",
            _ => "4-bit (half a byte per parameter)",
        };
        let assumed = if self.precision_said { "" } else { ", assumed" };
        match self.kind {
            Kind::Inference => format!(
                "{}B parameters in {precision}{assumed}, plus about 20% for activations and \
                 the KV cache",
                trim(self.params_b)
            ),
            Kind::Lora => format!(
                "{}B parameters in {precision}{assumed}, plus about 25% for the adapters, \
                 their optimizer and activations (LoRA)",
                trim(self.params_b)
            ),
            Kind::Training => format!(
                "{}B parameters at about 16 bytes each for full training with Adam in mixed \
                 precision (weights, gradients and optimizer state; activations come on top)",
                trim(self.params_b)
            ),
        }
    }
}

/// The workload a message describes, if it gives a model size ("70B", "13b", "7 billion
/// parameters").
pub fn read(toks: &[String]) -> Option<Workload> {
    let params_b = toks.iter().enumerate().find_map(|(i, t)| {
        // "70b-parameter"
        let t = t.split('-').next().unwrap_or(t);
        if let Some(n) = t.strip_suffix('b') {
            let v: f64 = n.parse().ok()?;
            return (v > 0.0 && v <= 2000.0).then_some(v);
        }
        let v: f64 = t.parse().ok()?;
        let next = toks.get(i + 1).map(String::as_str);
        (matches!(next, Some("billion" | "bn")) && v > 0.0).then_some(v)
    })?;
    let said = |w: &[&str]| super::words::any(toks, w);
    let (bytes, precision_said) = if said(&["fp32", "float32", "f32", "full-precision"]) {
        (4.0, true)
    } else if said(&["int4", "4bit", "4-bit", "q4", "nf4", "gptq", "awq", "qlora"]) {
        (0.5, true)
    } else if said(&["int8", "8bit", "8-bit", "q8", "fp8"]) {
        (1.0, true)
    } else if said(&["fp16", "bf16", "float16", "f16", "half-precision"]) {
        (2.0, true)
    } else {
        (2.0, false)
    };
    let kind = if said(&["lora", "qlora", "peft", "adapter", "adapters"]) {
        Kind::Lora
    } else if said(&[
        "train",
        "training",
        "pretrain",
        "pretraining",
        "finetune",
        "finetuning",
        "tune",
        "tuning",
    ]) {
        Kind::Training
    } else {
        Kind::Inference
    };
    Some(Workload {
        params_b,
        bytes,
        precision_said,
        kind,
    })
}

/// For each model of the inventory (cheapest first), how many of its GPUs hold the need,
/// when it has that many.
pub fn fits(inv: &Inventory, need_gb: f64) -> Vec<(String, u32, u32)> {
    let mut out: Vec<(String, u32, u32, i64)> = inv
        .models()
        .iter()
        .filter(|m| m.memory_gb > 0)
        .filter_map(|m| {
            let n = (need_gb / m.memory_gb as f64).ceil().max(1.0) as u32;
            (n <= m.total()).then(|| {
                (
                    m.name.clone(),
                    n,
                    m.memory_gb,
                    m.price_per_hour.0 * n as i64,
                )
            })
        })
        .collect();
    out.sort_by_key(|(_, _, _, cost)| *cost);
    out.into_iter().map(|(n, c, g, _)| (n, c, g)).collect()
}

/// "70", "1.5".
fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::builtin::words::tokens;

    #[test]
    fn sizes_from_parameters_and_precision() {
        let w = read(&tokens("which gpu for a 70B model?")).unwrap();
        assert_eq!((w.params_b, w.bytes, w.kind), (70.0, 2.0, Kind::Inference));
        assert!((w.need_gb() - 168.0).abs() < 0.01);
        let w = read(&tokens("13b in int8 for inference")).unwrap();
        assert!((w.need_gb() - 15.6).abs() < 0.01);
        let w = read(&tokens("full fine-tune of a 7 billion model")).unwrap();
        assert_eq!(w.kind, Kind::Training);
        assert!(read(&tokens("2 a100 tomorrow")).is_none());
        // 168 GB: three 80 GB cards, not one.
        let inv = Inventory::sample();
        let f = fits(&inv, 168.0);
        assert!(
            f.iter().any(|(m, n, _)| m == "A100-80GB" && *n == 3),
            "{f:?}"
        );
        assert!(!f.iter().any(|(_, n, _)| *n == 1));
    }
}
