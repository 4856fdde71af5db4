//! The runtimes: which program starts a function's worker, with the environment AWS gives it.
//! Python functions get boto3 from a virtual environment shoal manages (not the user's).

use super::model::{Function, LayerVersion};
use super::worker::Launch;
use super::{Lambda, LambdaError, Result};
use crate::store::Records;
use std::path::{Path, PathBuf};

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.mjs");

/// The runtimes shoal runs.
pub const RUNTIMES: [&str; 13] = [
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "provided.al2023",
    "provided.al2",
    "provided",
    "python3.14",
    "nodejs24.x",
];

pub fn write_bootstraps(dir: &Path) -> std::io::Result<()> {
    let rt = dir.join("runtime");
    std::fs::create_dir_all(&rt)?;
    std::fs::write(rt.join("bootstrap.py"), PYTHON_BOOTSTRAP)?;
    std::fs::write(rt.join("bootstrap.mjs"), NODE_BOOTSTRAP)?;
    Ok(())
}

fn family(runtime: &str) -> &str {
    if runtime.starts_with("python") {
        "python"
    } else if runtime.starts_with("nodejs") {
        "node"
    } else {
        "provided"
    }
}

impl Lambda {
    /// The Python that runs functions: the configured one, or shoal's managed environment,
    /// created (with boto3) on first use.
    pub(crate) async fn python(&self) -> Result<PathBuf> {
        if let Some(p) = &self.settings.python {
            return Ok(p.clone());
        }
        let venv = self.settings.dir.join("python-env");
        self.python
            .get_or_try_init(|| async {
                let bin = venv.join("bin").join("python");
                if bin.exists() && venv.join(".shoal-ready").exists() {
                    return Ok(bin);
                }
                eprintln!("shoal: preparing the Python runtime in {} (boto3 from PyPI, once)", venv.display());
                let run = |program: PathBuf, args: Vec<String>| async move {
                    let out = tokio::process::Command::new(&program)
                        .args(&args)
                        .output()
                        .await
                        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
                    if !out.status.success() {
                        return Err(format!(
                            "{} {} failed: {}",
                            program.display(),
                            args.join(" "),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                    Ok(())
                };
                run("python3".into(), vec!["-m".into(), "venv".into(), venv.display().to_string()])
                    .await
                    .and(Ok(()))
                    .map_err(|e| LambdaError::new("ServiceException", 500, format!("the Python runtime is unavailable: {e}")))?;
                run(bin.clone(), vec!["-m".into(), "pip".into(), "install".into(), "-q".into(), "boto3".into()])
                    .await
                    .map_err(|e| LambdaError::new("ServiceException", 500, format!("the Python runtime is unavailable: {e} (pass serve --lambda-python to use a Python that has boto3)")))?;
                let _ = std::fs::write(venv.join(".shoal-ready"), b"");
                Ok(bin)
            })
            .await
            .cloned()
    }

    /// How to start a worker for `f`, logging to `stream`.
    pub(crate) async fn launch(&self, f: &Function, stream: &str) -> Result<Launch> {
        let code = PathBuf::from(f.local_folder.as_deref().unwrap_or(&f.code_dir));
        let mut layers = Vec::new();
        for arn in &f.layers {
            let l = self.store.load::<LayerVersion>(arn)?.ok_or_else(|| {
                LambdaError::not_found(format!("Layer version {arn} does not exist."))
            })?;
            layers.push(PathBuf::from(l.code_dir));
        }
        let joined = |dirs: Vec<PathBuf>| {
            dirs.iter()
                .filter(|d| d.exists())
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        };
        let rt = self.settings.dir.join("runtime");
        let (program, args) = match family(&f.runtime) {
            "python" => (
                self.python().await?,
                vec![rt.join("bootstrap.py").display().to_string()],
            ),
            "node" => (
                self.settings.node.clone(),
                vec![rt.join("bootstrap.mjs").display().to_string()],
            ),
            _ => (code.join("bootstrap"), vec![]),
        };
        let mut path = layers.iter().map(|l| l.join("bin")).collect::<Vec<_>>();
        path.extend(
            std::env::var("PATH")
                .unwrap_or_default()
                .split(':')
                .map(PathBuf::from),
        );
        let mut pythonpath = vec![code.clone()];
        for l in &layers {
            pythonpath.push(l.join("python"));
            let lib = l.join("python").join("lib");
            if let Ok(entries) = std::fs::read_dir(&lib) {
                for e in entries.flatten() {
                    pythonpath.push(e.path().join("site-packages"));
                }
            }
        }
        let node_path = layers
            .iter()
            .map(|l| l.join("nodejs").join("node_modules"))
            .collect();
        let ld = layers.iter().map(|l| l.join("lib")).collect();
        let mut env = vec![
            ("PATH".to_string(), joined(path)),
            ("LANG".into(), "en_US.UTF-8".into()),
            ("TZ".into(), ":UTC".into()),
            (
                "HOME".into(),
                std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()),
            ),
            ("PYTHONUNBUFFERED".into(), "1".into()),
            ("PYTHONPATH".into(), joined(pythonpath)),
            ("NODE_PATH".into(), joined(node_path)),
            ("LD_LIBRARY_PATH".into(), joined(ld)),
            ("LAMBDA_TASK_ROOT".into(), code.display().to_string()),
            ("LAMBDA_RUNTIME_DIR".into(), rt.display().to_string()),
            ("_HANDLER".into(), f.handler.clone()),
            (
                "AWS_EXECUTION_ENV".into(),
                format!("AWS_Lambda_{}", f.runtime),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), f.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                f.memory_mb.to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME".into(),
                format!("/aws/lambda/{}", f.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream.to_string()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
            ("AWS_REGION".into(), f.region().to_string()),
            ("AWS_DEFAULT_REGION".into(), f.region().to_string()),
            ("AWS_ACCESS_KEY_ID".into(), "shoal".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "shoal".into()),
            ("AWS_SESSION_TOKEN".into(), "shoal".into()),
            ("AWS_ENDPOINT_URL".into(), self.settings.endpoint.clone()),
        ];
        env.extend(f.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(Launch {
            program,
            args,
            dir: code,
            env,
            memory_mb: f.memory_mb,
            stream: stream.to_string(),
            revision: f.revision.clone(),
        })
    }
}
