//! `lora`: LoRA adapter files (peft's format, or lora-ensemble's ensemble folders).
//!
//! ```text
//! cargo run --release --example lora -- merge --base model.safetensors --adapter DIR [--member I] --out merged.safetensors
//! cargo run --release --example lora -- inspect DIR [--json]
//! ```
//! `merge` does what peft's `merge_and_unload()` does for linear layers: every tensor of the base
//! is copied, each adapted `<module>.weight` replaced by W + s B A, the base's key names, dtypes
//! (f32, f64) and metadata kept. DIR is a peft adapter folder, or an ensemble folder with
//! `--member`. `inspect` prints r, alpha, the scaling, the targets, the adapter parameters per
//! member and the number of members. Bad input exits with status 1 and one line.
//!
//! `merge` holds the base file and the merged file in memory (about twice the base's size) and
//! refuses up front if that exceeds the memory limit (the physical memory, or
//! `CHERNET_MEMORY_LIMIT`, e.g. `CHERNET_MEMORY_LIMIT=64G`).
//!
//! `merge` holds the base file and the merged file in memory (about twice the base's size) and
//! refuses up front if that exceeds the memory limit (the physical memory, or
//! `CHERNET_MEMORY_LIMIT`, e.g. `CHERNET_MEMORY_LIMIT=64G`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lora_ensemble::{PeftAdapter, inspect, merge_into_file};

#[derive(Parser, Debug)]
#[command(about = "Merge and inspect LoRA adapters (peft's files and LoRA ensembles)")]
#[command(allow_negative_numbers = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Merge an adapter into a base safetensors file, as peft's merge_and_unload().
    #[command(allow_negative_numbers = true)]
    Merge {
        /// The base model's safetensors file (torch state-dict key names).
        #[arg(long)]
        base: PathBuf,
        /// A peft adapter folder, or an ensemble folder (then give --member).
        #[arg(long)]
        adapter: PathBuf,
        /// Which member of an ensemble folder.
        #[arg(long, value_parser = chernet::cli::non_negative_usize)]
        member: Option<usize>,
        /// The merged safetensors file to write (atomically).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print an adapter's or an ensemble's configuration and size.
    Inspect {
        /// A peft adapter folder or an ensemble folder.
        dir: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    // One line and exit status 1 for usage errors and failures alike; --help prints as usual.
    chernet::cli::exit_on_error("lora", run(chernet::cli::parse_args("lora")));
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Merge {
            base,
            adapter,
            member,
            out,
        } => {
            // The base is read whole and the merged file built in memory: about twice its size.
            let size = std::fs::metadata(&base)
                .map_err(|e| anyhow::anyhow!("{}: {e}", base.display()))?
                .len();
            chernet::cli::check_memory(
                &format!("merging into {}", base.display()),
                2.0 * size as f64,
            )
            .map_err(anyhow::Error::msg)?;
            let a = PeftAdapter::open(&adapter, member)?;
            let report = merge_into_file(&base, &a, &out)?;
            println!(
                "{}: {} weights merged ({}), {} tensors copied",
                out.display(),
                report.merged.len(),
                report.merged.join(", "),
                report.copied
            );
        }
        Command::Inspect { dir, json } => {
            let s = inspect(&dir)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&s).context("serialising the summary")?
                );
            } else {
                println!(
                    "{}: {} member(s), r = {}, lora_alpha = {}, scaling = {}{}, {} parameters per member, {}",
                    dir.display(),
                    s.members,
                    s.r,
                    s.lora_alpha,
                    s.scaling,
                    if s.use_rslora { " (rsLoRA)" } else { "" },
                    s.lora_parameters,
                    s.dtype
                );
                for m in &s.modules {
                    println!("  {m}");
                }
            }
        }
    }
    Ok(())
}
