//! GPU models, devices and the inventory that holds them.

use super::money::Cents;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// One physical GPU, written `node:index` (e.g. `a100-01:3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Device {
    /// The node (host) name.
    pub node: String,
    /// The GPU's index on that node.
    pub index: u32,
}

impl Device {
    /// Parses `node:index`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (node, index) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("device `{s}` is not of the form node:index"))?;
        let index = index
            .parse()
            .map_err(|_| format!("device `{s}`: `{index}` is not a GPU index"))?;
        valid_node_name(node)?;
        Ok(Self {
            node: node.to_string(),
            index,
        })
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.index)
    }
}

fn valid_node_name(node: &str) -> Result<(), String> {
    let ok = !node.is_empty()
        && node.len() <= 64
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "node name `{node}` must be 1-64 letters, digits, `-`, `_` or `.`"
        ))
    }
}

/// A GPU model with its devices and hourly price.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuModel {
    /// The model's name, e.g. `A100-80GB`.
    pub name: String,
    /// Memory per device in GB.
    pub memory_gb: u32,
    /// Price of one device for one hour.
    pub price_per_hour: Cents,
    /// Every device of this model, in a stable order.
    pub devices: Vec<Device>,
}

impl GpuModel {
    /// How many devices the model has.
    pub fn total(&self) -> u32 {
        self.devices.len() as u32
    }

    /// The model's architecture, known from its name ("H100" → Hopper), so people can ask
    /// for a family ("a Hopper card") without the inventory file naming it.
    pub fn architecture(&self) -> Option<&'static str> {
        let n = normalize(&self.name);
        const FAMILIES: &[(&[&str], &str)] = &[
            (&["h100", "h200", "gh200", "h800"], "Hopper"),
            (&["b100", "b200", "gb200"], "Blackwell"),
            (
                &[
                    "a100", "a800", "a40", "a30", "a10", "a6000", "a5000", "a4000", "3090",
                ],
                "Ampere",
            ),
            (
                &["l40s", "l40", "l4", "4090", "4080", "6000ada"],
                "Ada Lovelace",
            ),
            (&["v100"], "Volta"),
            (&["t4", "2080"], "Turing"),
        ];
        FAMILIES
            .iter()
            .find(|(keys, _)| keys.iter().any(|k| n.contains(k)))
            .map(|(_, f)| *f)
    }
}

/// The whole fleet. Built through [`Inventory::new`], which checks its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    models: Vec<GpuModel>,
}

/// A node of a model in the inventory file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// How many GPUs of the model the node has (indices 0..gpus).
    pub gpus: u32,
}

/// A model as written in `gpu_inventory.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name, e.g. `H100-80GB`.
    pub model: String,
    /// Memory per GPU in GB.
    pub memory_gb: u32,
    /// Hourly price of one GPU.
    pub price_per_hour: f64,
    /// The nodes that hold this model.
    pub nodes: Vec<NodeSpec>,
}

/// The file format of `gpu_inventory.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// One entry per model.
    pub models: Vec<ModelSpec>,
}

impl Inventory {
    /// Checks the rules: at least one model; unique model names; each model has devices and
    /// a positive price; no device belongs to two models.
    pub fn new(models: Vec<GpuModel>) -> Result<Self, String> {
        if models.is_empty() {
            return Err("the inventory has no GPU models".into());
        }
        let mut names = HashSet::new();
        let mut devices = HashSet::new();
        for m in &models {
            let name = m.name.trim();
            if name.is_empty() || name.len() > 64 {
                return Err("a model name must be 1-64 characters".into());
            }
            if !names.insert(normalize(name)) {
                return Err(format!("model `{name}` is listed twice"));
            }
            if m.devices.is_empty() {
                return Err(format!("model `{name}` has no devices"));
            }
            if m.price_per_hour.0 <= 0 {
                return Err(format!("model `{name}` needs a positive price_per_hour"));
            }
            if m.memory_gb == 0 {
                return Err(format!("model `{name}` needs memory_gb > 0"));
            }
            for d in &m.devices {
                if !devices.insert(d.clone()) {
                    return Err(format!("device `{d}` is listed twice"));
                }
            }
        }
        Ok(Self { models })
    }

    /// Builds and checks an inventory from its file form.
    pub fn from_file(file: InventoryFile) -> Result<Self, String> {
        let mut models = Vec::new();
        for (i, spec) in file.models.into_iter().enumerate() {
            let mut devices = Vec::new();
            for node in &spec.nodes {
                valid_node_name(&node.name).map_err(|e| format!("models[{i}]: {e}"))?;
                if node.gpus == 0 || node.gpus > 64 {
                    return Err(format!(
                        "models[{i}] node `{}`: gpus must be 1..=64",
                        node.name
                    ));
                }
                devices.extend((0..node.gpus).map(|index| Device {
                    node: node.name.clone(),
                    index,
                }));
            }
            if !spec.price_per_hour.is_finite() {
                return Err(format!("models[{i}]: price_per_hour must be a number"));
            }
            models.push(GpuModel {
                name: spec.model.trim().to_string(),
                memory_gb: spec.memory_gb,
                price_per_hour: Cents::from_decimal(spec.price_per_hour),
                devices,
            });
        }
        Self::new(models).map_err(|e| format!("models: {e}"))
    }

    /// The file form of this inventory.
    pub fn to_file(&self) -> InventoryFile {
        let models = self
            .models
            .iter()
            .map(|m| {
                let mut nodes: Vec<NodeSpec> = Vec::new();
                for d in &m.devices {
                    match nodes.last_mut() {
                        Some(n) if n.name == d.node => n.gpus += 1,
                        _ => nodes.push(NodeSpec {
                            name: d.node.clone(),
                            gpus: 1,
                        }),
                    }
                }
                ModelSpec {
                    model: m.name.clone(),
                    memory_gb: m.memory_gb,
                    price_per_hour: m.price_per_hour.as_decimal(),
                    nodes,
                }
            })
            .collect();
        InventoryFile { models }
    }

    /// The built-in sample fleet, served until an inventory is imported.
    pub fn sample() -> Self {
        let spec = |model: &str, mem, price, nodes: &[(&str, u32)]| ModelSpec {
            model: model.into(),
            memory_gb: mem,
            price_per_hour: price,
            nodes: nodes
                .iter()
                .map(|(n, g)| NodeSpec {
                    name: (*n).into(),
                    gpus: *g,
                })
                .collect(),
        };
        let file = InventoryFile {
            models: vec![
                spec("H100-80GB", 80, 3.89, &[("hopper-01", 4), ("hopper-02", 4)]),
                spec(
                    "A100-80GB",
                    80,
                    2.29,
                    &[("ampere-01", 4), ("ampere-02", 4), ("ampere-03", 4)],
                ),
                spec(
                    "L40S-48GB",
                    48,
                    1.19,
                    &[("lovelace-01", 4), ("lovelace-02", 4)],
                ),
                spec("V100-32GB", 32, 0.79, &[("volta-01", 4), ("volta-02", 4)]),
                spec(
                    "RTX-4090-24GB",
                    24,
                    0.59,
                    &[("ada-01", 2), ("ada-02", 2), ("ada-03", 2)],
                ),
            ],
        };
        Self::from_file(file).expect("the sample inventory is valid")
    }

    /// Every model, in inventory order.
    pub fn models(&self) -> &[GpuModel] {
        &self.models
    }

    /// Finds a model by a loose name: case, spaces and dashes are ignored, and a unique
    /// prefix or family name ("a100", "4090", "h100 80gb") is enough.
    pub fn find(&self, name: &str) -> Option<&GpuModel> {
        let want = normalize(name);
        if want.is_empty() {
            return None;
        }
        if let Some(m) = self.models.iter().find(|m| normalize(&m.name) == want) {
            return Some(m);
        }
        let hits: Vec<&GpuModel> = self
            .models
            .iter()
            .filter(|m| {
                let n = normalize(&m.name);
                n.starts_with(&want) || n.contains(&want) && want.len() >= 3
            })
            .collect();
        match hits.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// Lowercase letters and digits only: "RTX 4090-24GB" → "rtx409024gb".
pub fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_has_the_contracted_models() {
        let inv = Inventory::sample();
        for name in ["A100", "H100", "L40S", "V100", "RTX 4090"] {
            let m = inv.find(name).unwrap_or_else(|| panic!("{name}"));
            assert!(m.total() >= 4);
            let nodes: HashSet<_> = m.devices.iter().map(|d| &d.node).collect();
            assert!(nodes.len() >= 2, "{name} spans several nodes");
        }
    }

    #[test]
    fn loose_names_find_models() {
        let inv = Inventory::sample();
        assert_eq!(inv.find("a100-80gb").unwrap().name, "A100-80GB");
        assert_eq!(inv.find("4090").unwrap().name, "RTX-4090-24GB");
        assert_eq!(inv.find("h100 80GB").unwrap().name, "H100-80GB");
        assert!(inv.find("80gb").is_none(), "ambiguous");
        assert!(inv.find("tpu").is_none());
    }

    #[test]
    fn file_round_trip_and_rules() {
        let inv = Inventory::sample();
        assert_eq!(Inventory::from_file(inv.to_file()).unwrap(), inv);
        let mut f = inv.to_file();
        f.models[1].model = f.models[0].model.to_lowercase();
        assert!(Inventory::from_file(f).unwrap_err().contains("twice"));
    }

    #[test]
    fn devices_parse() {
        assert_eq!(Device::parse("n-1:3").unwrap().to_string(), "n-1:3");
        assert!(Device::parse("n1").is_err());
        assert!(Device::parse("n1:x").is_err());
    }
}
