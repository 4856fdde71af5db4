//! Map runs: the record a distributed Map keeps of its child executions (DescribeMapRun,
//! ListMapRuns, ListExecutions by map run). The replay journal writes them as the run goes.

use super::arn::Arn;
use super::error::{Result, SfnError};
use super::model::{ExecutionSummary, MapRun};
use super::Sfn;
use crate::store::{Records, Scan};

fn check_map_run_arn(arn: &str) -> Result<()> {
    let a = Arn::parse(arn)?;
    if a.kind != "mapRun" {
        return Err(SfnError::InvalidArn(format!("Invalid Arn: '{arn}'")));
    }
    Ok(())
}

impl Sfn {
    pub fn map_run(&self, arn: &str) -> Result<MapRun> {
        check_map_run_arn(arn)?;
        self.store
            .load::<MapRun>(arn)?
            .ok_or_else(|| SfnError::ResourceNotFound(format!("Map Run Does Not Exist: '{arn}'")))
    }

    /// The map runs of an execution, oldest first.
    pub fn list_map_runs(
        &self,
        execution: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<MapRun>> {
        self.execution(execution)?;
        Ok(self.store.list::<MapRun>(Scan {
            owner: Some(execution),
            offset,
            limit,
            ..Default::default()
        })?)
    }

    /// The child executions of a map run, newest first.
    pub fn list_map_run_executions(
        &self,
        map_run: &str,
        status: Option<&str>,
        redriven: Option<bool>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>> {
        self.map_run(map_run)?;
        self.list_owned(map_run, None, status, redriven, offset, limit)
    }
}
