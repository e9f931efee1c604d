//! Renders a chart like `helm template` (or times N renders with `--bench N`, or N loads of the
//! chart alone with `--bench N --load-only`; `--trace` also prints every render's time, in
//! microseconds and in order, to stderr).
//!
//! `render_bench CHART [--name R] [-n NS] [-f VALUES]... [--set K=V]... [--kube-version V]
//!  [--api-versions A,B] [--show-only T]... [--include-crds] [--skip-tests] [--images] [--bench N]
//!  [--load-only] [--trace]`

use std::time::Instant;

use ferry_helm::{discover_images, render, Chart, RenderOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = RenderOptions::default();
    let mut chart_path = None;
    let mut bench = 0usize;
    let mut images = false;
    let mut load_only = false;
    let mut trace = false;
    let mut i = 0;
    let next = |i: &mut usize| -> Result<String, Box<dyn std::error::Error>> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| "missing argument".into())
    };
    while i < args.len() {
        match args[i].as_str() {
            "--name" => opts.release_name = next(&mut i)?,
            "-n" | "--namespace" => opts.namespace = next(&mut i)?,
            "-f" | "--values" => opts.values_files.push(next(&mut i)?.into()),
            "--set" => opts.set_values.push(next(&mut i)?),
            "--set-string" => opts.set_string_values.push(next(&mut i)?),
            "--set-json" => opts.set_json_values.push(next(&mut i)?),
            "--set-file" => opts.set_file_values.push(next(&mut i)?),
            "--set-literal" => opts.set_literal_values.push(next(&mut i)?),
            "--kube-version" => opts.kube_version = Some(next(&mut i)?),
            "--api-versions" => opts
                .api_versions
                .extend(next(&mut i)?.split(',').map(String::from)),
            "--show-only" | "-s" => opts.show_only.push(next(&mut i)?),
            "--include-crds" => opts.include_crds = true,
            "--skip-tests" => opts.skip_tests = true,
            "--images" => images = true,
            "--helm42" => opts.manifest_split = ferry_helm::ManifestSplit::Helm42,
            "--skip-schema-validation" => opts.skip_schema_validation = true,
            "--seed" => opts.seed = next(&mut i)?.into_bytes(),
            "--bench" => bench = next(&mut i)?.parse()?,
            "--load-only" => load_only = true,
            "--trace" => trace = true,
            other => chart_path = Some(other.to_string()),
        }
        i += 1;
    }
    let chart_path = chart_path.ok_or("usage: render_bench CHART [flags]")?;
    if bench > 0 && load_only {
        // the median of N loads, printed alone
        let mut times = Vec::with_capacity(bench);
        for _ in 0..bench {
            let start = Instant::now();
            let chart = Chart::load(&chart_path)?;
            times.push(start.elapsed().as_secs_f64());
            drop(chart);
        }
        times.sort_by(f64::total_cmp);
        println!("{:.6}", times[times.len() / 2]);
        return Ok(());
    }
    if bench > 0 {
        // one cold run (fills the process's key/bcrypt caches), then N timed load+render runs, of
        // which the median is printed
        let cold = Instant::now();
        let chart = Chart::load(&chart_path)?;
        render(&chart, &opts)?;
        let cold = cold.elapsed().as_secs_f64();
        // the median, as the Helm tool reports it: robust to a noisy neighbour on a shared machine
        let mut times = Vec::with_capacity(bench);
        for _ in 0..bench {
            let start = Instant::now();
            let chart = Chart::load(&chart_path)?;
            let r = render(&chart, &opts)?;
            std::hint::black_box(r.helm_output().len());
            times.push(start.elapsed().as_secs_f64());
        }
        if trace {
            let list: Vec<String> = times.iter().map(|t| format!("{:.0}", t * 1e6)).collect();
            eprintln!("{}", list.join(" "));
        }
        times.sort_by(f64::total_cmp);
        let per = times[times.len() / 2];
        println!("{per:.6} {cold:.6}");
        return Ok(());
    }
    let chart = Chart::load(&chart_path)?;
    let rendered = render(&chart, &opts)?;
    let out = rendered.to_helm_output();
    if images {
        for img in discover_images(&out)? {
            println!("{img}");
        }
    } else {
        print!("{out}");
    }
    Ok(())
}
