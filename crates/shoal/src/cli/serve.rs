//! `shoal serve`: the AWS-compatible server.

use crate::api::{self, App};
use crate::sfn::{Config, Sfn};
use crate::store::sqlite::SqliteStore;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long a stopping server waits for the requests in flight (long polls end at once).
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: String,
    /// Folder for the database (created if missing).
    #[arg(long, default_value = "./.shoal")]
    data: PathBuf,
    /// Multiplies Wait and retry delays: 0 skips them, 0.01 runs a one-minute Wait in 0.6 s.
    #[arg(long, default_value_t = 1.0)]
    wait_scale: f64,
    /// Waits end at once and each execution's clock jumps to their end: history timestamps,
    /// `$$.State.EnteredTime` and `$now` show the waited-for time. For tests of long workflows.
    #[arg(long, conflicts_with = "wait_scale")]
    virtual_clock: bool,
    /// Accept PutEvents entries with `aws.*` sources from clients. AWS refuses them
    /// (NotAuthorizedForSourceException); `shoal events put --as-service` is the faithful way.
    #[arg(long)]
    allow_aws_sources: bool,
    /// A Step Functions Local mock file; start executions with `stateMachineArn#TestCase`.
    #[arg(long)]
    mock_config: Option<PathBuf>,
    /// Endpoint for `aws-sdk:<service>:*` tasks, as SERVICE=URL (repeatable), e.g.
    /// `glue=http://127.0.0.1:5000`. Default: the service's AWS endpoint in the execution's region.
    #[arg(long = "aws-endpoint", value_name = "SERVICE=URL")]
    aws_endpoints: Vec<String>,
    /// The key that seals SecureString parameters (created if missing; default
    /// DATA/parameters.key). Kept outside the database, so a copy of shoal.db reveals nothing.
    #[arg(long)]
    parameter_key: Option<PathBuf>,
    /// SMTP server for SNS email subscriptions: `smtp://HOST:PORT` (plain),
    /// `smtp://HOST:PORT?tls=required` (STARTTLS), `smtps://HOST:PORT` (TLS), with
    /// `USER:PASSWORD@` for credentials. Without it, email is kept in an outbox (`shoal mail`).
    #[arg(long, env = "SHOAL_SMTP")]
    smtp: Option<String>,
    /// The sender of SNS email.
    #[arg(
        long,
        env = "SHOAL_SMTP_FROM",
        default_value = "no-reply@sns.shoal.localhost"
    )]
    smtp_from: String,
    /// The Python that runs `python3.*` functions (it must have boto3, as AWS's runtimes do).
    /// Default: a virtual environment shoal creates under DATA/lambda with boto3 from PyPI.
    #[arg(long, env = "SHOAL_LAMBDA_PYTHON")]
    lambda_python: Option<PathBuf>,
    /// The Node.js that runs `nodejs*` functions.
    #[arg(long, env = "SHOAL_LAMBDA_NODE", default_value = "node")]
    lambda_node: PathBuf,
    /// The account id in ARNs.
    #[arg(long, default_value = "123456789012")]
    account: String,
    /// Seconds a Glue interactive session stays PROVISIONING before it is READY (server clock).
    #[arg(long, default_value_t = 10.0)]
    glue_session_startup: f64,
    /// Seconds a Glue crawler spends starting before it reads its targets (AWS's take a minute
    /// or more; shoal's default is none).
    #[arg(long, default_value_t = 0.0)]
    glue_crawler_startup: f64,
    /// How long a closed Standard execution is kept before it is deleted with its history, as
    /// AWS keeps them 90 days: `90d`, `12h`, `30m`, `45s`, or `forever`.
    #[arg(long, default_value = "90d", value_parser = crate::sfn::retention::parse_retention)]
    execution_retention: crate::sfn::retention::Retention,
    /// The Python that runs Glue Python shell jobs (with the packages the scripts import, e.g.
    /// awswrangler). Default: the Lambda Python.
    #[arg(long, env = "SHOAL_GLUE_PYTHON")]
    glue_python: Option<PathBuf>,
}

pub fn run(a: ServeArgs) -> Result<ExitCode> {
    if !(a.wait_scale >= 0.0 && a.wait_scale.is_finite()) {
        bail!("--wait-scale must be a number ≥ 0, not {}", a.wait_scale);
    }
    if !(a.glue_crawler_startup >= 0.0 && a.glue_crawler_startup.is_finite()) {
        bail!(
            "--glue-crawler-startup must be a number of seconds ≥ 0, not {}",
            a.glue_crawler_startup
        );
    }
    if !(a.glue_session_startup >= 0.0 && a.glue_session_startup.is_finite()) {
        bail!(
            "--glue-session-startup must be a number of seconds ≥ 0, not {}",
            a.glue_session_startup
        );
    }
    let mut sdk_endpoints = HashMap::new();
    for e in &a.aws_endpoints {
        let Some((svc, url)) = e.split_once('=') else {
            bail!("--aws-endpoint takes SERVICE=URL, not '{e}'");
        };
        sdk_endpoints.insert(svc.to_string(), url.to_string());
    }
    let mock_config = match &a.mock_config {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the mock file {}", p.display()))?,
        ),
        None => None,
    };
    // the arguments are good: the server starts
    crate::prefetch::executable();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let store = Arc::new(
        SqliteStore::open(&a.data)
            .with_context(|| format!("cannot open the data folder {}", a.data.display()))?,
    );
    let mut config = Config {
        wait_scale: a.wait_scale,
        virtual_clock: a.virtual_clock,
        allow_aws_sources: a.allow_aws_sources,
        mock_config,
        sdk_endpoints,
        account: a.account.clone(),
        ..Config::default()
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| a.listen.clone())
            .replace("0.0.0.0", "127.0.0.1");
        // `aws-sdk:` tasks for the services shoal serves reach shoal, unless told otherwise
        for svc in [
            "sfn",
            "sqs",
            "eventbridge",
            "cloudwatchlogs",
            "ssm",
            "cloudwatch",
            "glue",
        ] {
            config
                .sdk_endpoints
                .entry(svc.to_string())
                .or_insert_with(|| format!("http://{local}"));
        }
        let sfn = Sfn::new(store.clone(), config, tokio::runtime::Handle::current());
        let resumed = sfn.recover()?;
        if let Some(retention) = a.execution_retention.0 {
            sfn.keep_sweeping(retention);
        }
        let sqs = crate::sqs::Sqs::open(store.clone())
            .map_err(|e| anyhow::anyhow!("cannot load the queues: {e}"))?;
        let events = crate::events::Events::start(store.clone(), sfn.clone(), sqs.clone())
            .map_err(|e| anyhow::anyhow!("cannot start the event service: {e}"))?;
        let logs = crate::logs::Logs::open(store.clone())
            .map_err(|e| anyhow::anyhow!("cannot open the log store: {e}"))?;
        let (here, hourly) = (tokio::runtime::Handle::current(), crate::sweeper::HOURLY);
        let what = "archived event(s)";
        crate::sweeper::keep_sweeping(&here, &events, hourly, what, |ev| async move {
            ev.sweep_archives(chrono::Utc::now()).await
        });
        let what = "log event batch(es)";
        crate::sweeper::keep_sweeping(&here, &logs, hourly, what, |logs| async move {
            logs.sweep(chrono::Utc::now()).await
        });
        let pipes = crate::pipes::Pipes::start(store.clone(), events.clone(), logs.clone())
            .map_err(|e| anyhow::anyhow!("cannot start the pipes: {e}"))?;
        let scheduler = crate::scheduler::Scheduler::start(store.clone(), events.clone())
            .map_err(|e| anyhow::anyhow!("cannot start the scheduler: {e}"))?;
        eprintln!(
            "shoal listening on http://{} · data in {} · {resumed} running execution(s) resumed",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| a.listen.clone()),
            store.path().display()
        );
        let key = a
            .parameter_key
            .clone()
            .unwrap_or_else(|| a.data.join("parameters.key"));
        let sealer = crate::ssm::crypto::Sealer::open(&key)?;
        let ssm = Arc::new(crate::ssm::Ssm::new(store.clone(), sealer));
        let blobs = crate::s3::blobs::FsBlobs::open(&a.data.join("objects"))
            .context("cannot open the object folder")?;
        let s3 = crate::s3::S3::open(
            store.clone(),
            Arc::new(blobs),
            Some(events.clone()),
            &a.account,
        )
        .map_err(|e| anyhow::anyhow!("cannot load the buckets: {e}"))?;
        let mailer = crate::sns::mail::Mailer::new(a.smtp.as_deref(), &a.smtp_from, store.clone())
            .map_err(|e| anyhow::anyhow!(e))?;
        let sns = crate::sns::Sns::start(
            store.clone(),
            sqs.clone(),
            mailer,
            format!("http://{local}"),
            if a.virtual_clock { 0.0 } else { a.wait_scale },
            &a.data,
        )
        .map_err(|e| anyhow::anyhow!("cannot start the topics: {e}"))?;
        let lambda = crate::lambda::Lambda::start(
            store.clone(),
            logs.clone(),
            crate::lambda::Settings {
                dir: a.data.join("lambda"),
                python: a.lambda_python.clone(),
                node: a.lambda_node.clone(),
                endpoint: format!("http://{local}"),
                wait_scale: if a.virtual_clock { 0.0 } else { a.wait_scale },
            },
            sqs.clone(),
            sns.clone(),
            events.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the functions: {e}"))?;
        events.set_targets(crate::events::Targets {
            lambda: Arc::downgrade(&lambda),
            sns: Arc::downgrade(&sns),
        });
        sns.set_lambda(Arc::downgrade(&lambda));
        let metrics = crate::metrics::Metrics::start(store.clone(), events.clone(), sns.clone())
            .map_err(|e| anyhow::anyhow!("cannot load the metrics: {e}"))?;
        sfn.metrics.connect(Arc::downgrade(&metrics));
        sfn.set_logs(Arc::downgrade(&logs));
        lambda.metrics.connect(Arc::downgrade(&metrics));
        sns.metrics.connect(Arc::downgrade(&metrics));
        events.metrics.connect(Arc::downgrade(&metrics));
        logs.metrics.connect(Arc::downgrade(&metrics));
        let glue = crate::glue::Glue::start(
            store.clone(),
            s3.clone(),
            events.clone(),
            logs.clone(),
            lambda.clone(),
            crate::glue::Settings {
                endpoint: format!("http://{local}"),
                python: a.glue_python.clone().or_else(|| a.lambda_python.clone()),
                session_startup: a.glue_session_startup,
                crawler_startup: a.glue_crawler_startup,
                wait_scale: if a.virtual_clock { 0.0 } else { a.wait_scale },
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot start Glue: {e}"))?;
        let tasks: Arc<dyn crate::sfn::integrations::LocalTasks> = Arc::new(crate::tasks::Local {
            sns: sns.clone(),
            sqs: sqs.clone(),
            events: events.clone(),
            lambda: lambda.clone(),
            glue: glue.clone(),
            s3: s3.clone(),
            account: a.account.clone(),
            runtime: tokio::runtime::Handle::current(),
        });
        sfn.set_local_tasks(Arc::downgrade(&tasks));
        let app = api::router(App {
            sfn,
            events,
            scheduler,
            ssm,
            sqs,
            pipes,
            s3,
            sns,
            logs,
            lambda,
            metrics,
            athena: crate::athena::Athena::new(glue.clone()),
            glue,
        });
        // small answers go out at once instead of waiting on the client's delayed ACK
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        use std::future::IntoFuture;
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                crate::stopping::signalled().await;
                eprintln!("shoal: shutting down");
                crate::stopping::request();
            })
            .into_future();
        // the drain has a bound: a synchronous Express execution or a function invoked with
        // RequestResponse may run for minutes, and what they have not answered is not durable
        // anyway; a second signal stops at once
        let cut_off = async {
            crate::stopping::requested().await;
            tokio::select! {
                _ = tokio::time::sleep(DRAIN) => eprintln!(
                    "shoal: requests still running after {} s are cut off",
                    DRAIN.as_secs()
                ),
                _ = crate::stopping::signalled() => {
                    eprintln!("shoal: stopping without waiting for the requests in flight")
                }
            }
        };
        tokio::select! {
            served = serving => served.context("server error"),
            _ = cut_off => Ok(()),
        }
    });
    // running segments finish their current step; what is not yet stored is replayed on start
    runtime.shutdown_timeout(Duration::from_secs(2));
    store.close();
    result.map(|_| ExitCode::SUCCESS)
}
