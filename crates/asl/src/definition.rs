//! The state machine definition: parsed from JSON into typed states, validated the way
//! CreateStateMachine validates (every problem reported with its JSON-pointer location), and
//! compiled (paths, intrinsics, JSONata) so that evaluation never re-parses.

use crate::choice::{self, Condition};
use crate::error::Diagnostic;
use crate::jsonpath::JsonPath;
use crate::template::{compile_jsonata, jsonata_source, Reference, Template};
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// `QueryLanguage`: JSONPath (the default) or JSONata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

/// A parsed, validated state machine (or a Parallel branch / Map processor).
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub start_at: String,
    pub states: IndexMap<String, State>,
    pub timeout_seconds: Option<u64>,
    pub query_language: QueryLanguage,
    pub comment: Option<String>,
}

/// One state.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub query_language: QueryLanguage,
    pub next: Option<String>,
    pub end: bool,
    pub io: Io,
    pub assign: Option<Template>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub kind: Kind,
    /// Whether anything in the state may read the context object (`$$`, `$states.context`):
    /// the executor builds it only then.
    pub uses_context: bool,
    /// Whether it may read `$$.Execution.Input` (see [`context_reads`]): the executor
    /// copies the execution's input into the context object only then.
    pub uses_execution_input: bool,
}

/// What a state's text may read of the context object: any of it (`$$`, `$states.context`, a
/// bare `$states`, or the word `context` anywhere, to be safe), and the execution's input in
/// it: any reference but those that name another field (`$$.Map.Item.Value`,
/// `$states.context.Execution.Name`, ...). Copying the input into the context object of each
/// state of each Map iteration made a Map's cost grow with the square of its items.
pub fn context_reads(text: &str) -> (bool, bool) {
    const ELSEWHERE: [&str; 8] = [
        ".State", // and .StateMachine
        ".Task",
        ".Map",
        ".Execution.Id",
        ".Execution.Name",
        ".Execution.StartTime",
        ".Execution.RoleArn",
        ".Execution.RedriveCount",
    ];
    const STATES_FIELDS: [&str; 3] = [".input", ".result", ".errorOutput"];
    let after = |at: usize, root: &str| &text[at + root.len()..];
    let bare_states = text.match_indices("$states").any(|(at, r)| {
        !after(at, r).starts_with(".context")
            && !STATES_FIELDS.iter().any(|f| after(at, r).starts_with(f))
    });
    let roots = ["$$", "$states.context"];
    let input = bare_states
        || roots.iter().any(|root| {
            text.match_indices(root)
                .any(|(at, r)| !ELSEWHERE.iter().any(|f| after(at, r).starts_with(f)))
        });
    (
        input || text.contains("$$") || text.contains("context"),
        input,
    )
}

/// The input/output processing fields.
#[derive(Debug, Clone, Default)]
pub struct Io {
    /// `None`: absent (`$`); `Some(None)`: `null` (the input becomes `{}`).
    pub input_path: Option<Option<Reference>>,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata).
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    /// `None`: absent (`$`); `Some(None)`: `null` (the result is discarded).
    pub result_path: Option<Option<JsonPath>>,
    pub output_path: Option<Option<Reference>>,
    /// JSONata `Output`.
    pub output: Option<Template>,
}

/// A number or string field that may be fixed, a path (`...Path`) or a JSONata expression.
#[derive(Debug, Clone)]
pub enum Field {
    Value(Value),
    Path(Reference),
    /// An intrinsic call (Fail's `ErrorPath`/`CausePath` accept one).
    Call(crate::intrinsics::Call),
    Jsonata(Box<jsonata::Expr>, String),
}

#[derive(Debug, Clone)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(Box<Task>),
    Choice {
        choices: Vec<ChoiceRule>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Field>,
        cause: Option<Field>,
    },
    Parallel {
        branches: Vec<StateMachine>,
    },
    Map(Box<MapState>),
}

#[derive(Debug, Clone)]
pub struct Task {
    pub resource: String,
    pub timeout_seconds: Option<Field>,
    pub heartbeat_seconds: Option<Field>,
    pub credentials: Option<Value>,
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(Field),
    Timestamp(Field),
}

#[derive(Debug, Clone)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
    pub assign: Option<Template>,
    pub output: Option<Template>,
}

#[derive(Debug, Clone)]
pub struct MapState {
    pub items_path: Option<Reference>,
    /// JSONata `Items` (an expression or a literal array template).
    pub items: Option<Template>,
    pub item_selector: Option<Template>,
    pub processor: StateMachine,
    pub distributed: bool,
    pub max_concurrency: Option<Field>,
    pub tolerated_failure_percentage: Option<Field>,
    pub tolerated_failure_count: Option<Field>,
    pub label: Option<String>,
    pub item_batcher: Option<ItemBatcher>,
    pub item_reader: Option<crate::states::item_reader::ItemReader>,
    pub result_writer: Option<crate::states::result_writer::ResultWriter>,
}

#[derive(Debug, Clone)]
pub struct ItemBatcher {
    pub max_items: Option<Field>,
    pub max_input_bytes: Option<Field>,
    pub batch_input: Option<Template>,
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<Option<JsonPath>>,
    pub output: Option<Template>,
    pub assign: Option<Template>,
}

impl StateMachine {
    /// Parses definition text; JSON syntax errors are reported with line and column.
    pub fn parse(text: &str) -> Result<StateMachine, Vec<Diagnostic>> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            vec![Diagnostic {
                code: "INVALID_JSON_DESCRIPTION",
                message: format!("{} at line {} column {}", e, e.line(), e.column()),
                location: "/".into(),
            }]
        })?;
        StateMachine::from_value(&v)
    }

    /// Parses and validates a definition.
    pub fn from_value(v: &Value) -> Result<StateMachine, Vec<Diagnostic>> {
        let mut cx = Cx::default();
        let Some(obj) = v.as_object() else {
            return Err(vec![Diagnostic::schema(
                "The definition must be a JSON object",
                "/",
            )]);
        };
        let sm = cx.machine(obj, "", None, true);
        if let Some(sm) = sm {
            if cx.diags.is_empty() {
                return Ok(sm);
            }
        }
        Err(cx.diags)
    }
}

#[derive(Default)]
struct Cx {
    diags: Vec<Diagnostic>,
}

fn ptr(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn loc(p: &str) -> String {
    if p.is_empty() {
        "/".to_string()
    } else {
        p.to_string()
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

fn allowed_fields(kind: &str, ql: QueryLanguage) -> Vec<&'static str> {
    let jp = ql == QueryLanguage::JsonPath;
    let mut f: Vec<&str> = COMMON.to_vec();
    let io_in: &[&str] = if jp { &["InputPath"] } else { &[] };
    let io_out: &[&str] = if jp { &["OutputPath"] } else { &["Output"] };
    let result: &[&str] = if jp {
        &["ResultPath", "ResultSelector"]
    } else {
        &[]
    };
    let args: &[&str] = if jp { &["Parameters"] } else { &["Arguments"] };
    match kind {
        "Pass" => {
            f.extend(["Next", "End", "Assign"]);
            f.extend(io_in);
            f.extend(io_out);
            if jp {
                f.extend(["Result", "ResultPath", "Parameters"]);
            }
        }
        "Task" => {
            f.extend([
                "Next",
                "End",
                "Assign",
                "Resource",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "HeartbeatSeconds",
                "Credentials",
            ]);
            if jp {
                f.extend(["TimeoutSecondsPath", "HeartbeatSecondsPath"]);
            }
            f.extend(io_in);
            f.extend(io_out);
            f.extend(result);
            f.extend(args);
        }
        "Choice" => {
            f.extend(["Choices", "Default", "Assign"]);
            f.extend(io_in);
            f.extend(io_out);
        }
        "Wait" => {
            f.extend(["Next", "End", "Assign", "Seconds", "Timestamp"]);
            if jp {
                f.extend(["SecondsPath", "TimestampPath"]);
            }
            f.extend(io_in);
            f.extend(io_out);
        }
        "Succeed" => {
            f.extend(io_in);
            f.extend(io_out);
        }
        "Fail" => {
            f.extend(["Error", "Cause"]);
            if jp {
                f.extend(["ErrorPath", "CausePath"]);
            }
        }
        "Parallel" => {
            f.extend(["Next", "End", "Assign", "Branches", "Retry", "Catch"]);
            f.extend(io_in);
            f.extend(io_out);
            f.extend(result);
            f.extend(args);
        }
        "Map" => {
            f.extend([
                "Next",
                "End",
                "Assign",
                "Retry",
                "Catch",
                "ItemProcessor",
                "Iterator",
                "ItemSelector",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "MaxConcurrency",
                "ToleratedFailurePercentage",
                "ToleratedFailureCount",
                "Label",
            ]);
            if jp {
                f.extend([
                    "ItemsPath",
                    "MaxConcurrencyPath",
                    "ToleratedFailurePercentagePath",
                    "ToleratedFailureCountPath",
                    "Parameters",
                ]);
            } else {
                f.push("Items");
            }
            f.extend(io_in);
            f.extend(io_out);
            f.extend(result);
        }
        _ => {}
    }
    f
}

impl Cx {
    fn err(&mut self, message: impl Into<String>, at: &str) {
        self.diags.push(Diagnostic::schema(message, loc(at)));
    }

    fn machine(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        inherited: Option<QueryLanguage>,
        top: bool,
    ) -> Option<StateMachine> {
        let mut missing = Vec::new();
        if !obj.contains_key("States") {
            missing.push("States");
        }
        if !obj.contains_key("StartAt") {
            missing.push("StartAt");
        }
        if !missing.is_empty() {
            self.err(
                format!("These fields are required: [{}]", missing.join(", ")),
                at,
            );
            return None;
        }
        let ql = match obj.get("QueryLanguage") {
            None => inherited.unwrap_or(QueryLanguage::JsonPath),
            Some(v) => self.query_language(v, &ptr(at, "QueryLanguage"))?,
        };
        for key in obj.keys() {
            let ok = matches!(
                key.as_str(),
                "StartAt" | "States" | "Comment" | "QueryLanguage" | "ProcessorConfig"
            ) || (top && matches!(key.as_str(), "Version" | "TimeoutSeconds"));
            if !ok {
                self.err(format!("Field '{key}' is not supported"), &ptr(at, key));
            }
        }
        let timeout_seconds = match obj.get("TimeoutSeconds") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    self.err(
                        "TimeoutSeconds must be a non-negative integer",
                        &ptr(at, "TimeoutSeconds"),
                    );
                    None
                }
            },
        };
        let Some(start_at) = obj.get("StartAt").and_then(Value::as_str) else {
            self.err("StartAt must be a string", &ptr(at, "StartAt"));
            return None;
        };
        let Some(states_obj) = obj.get("States").and_then(Value::as_object) else {
            self.err("States must be an object", &ptr(at, "States"));
            return None;
        };
        let states_at = ptr(at, "States");
        let mut states = IndexMap::new();
        for (name, sv) in states_obj {
            let sp = ptr(&states_at, name);
            if name.is_empty() || name.chars().count() > 80 {
                self.err("State names must be 1 to 80 characters long", &sp);
            }
            let Some(so) = sv.as_object() else {
                self.err("A state must be a JSON object", &sp);
                continue;
            };
            if let Some(s) = self.state(name, so, &sp, ql) {
                states.insert(name.clone(), s);
            }
        }
        if !states_obj.contains_key(start_at) {
            self.diags.push(Diagnostic {
                code: "MISSING_TRANSITION_TARGET",
                message: format!("Missing 'Next' target: {start_at}"),
                location: ptr(at, "StartAt"),
            });
        }
        // transitions and reachability
        let mut reach: Vec<&str> = vec![start_at];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = reach.pop() {
            if !seen.insert(n.to_string()) {
                continue;
            }
            if let Some(s) = states.get(n) {
                for t in s.targets() {
                    reach.push(t);
                }
            }
        }
        for (name, s) in &states {
            let sp = ptr(&states_at, name);
            for (field, t) in s.targets_with_fields() {
                if !states_obj.contains_key(t) {
                    self.diags.push(Diagnostic {
                        code: "MISSING_TRANSITION_TARGET",
                        message: format!("Missing 'Next' target: {t}"),
                        location: ptr(&sp, &field),
                    });
                }
            }
            if !seen.contains(name) {
                self.diags.push(Diagnostic {
                    // AWS reports unreachable states under this code too: "State \"X\" is not reachable."
                    code: "MISSING_TRANSITION_TARGET",
                    message: format!("State \"{name}\" is not reachable."),
                    location: sp,
                });
            }
        }
        let terminal = states
            .values()
            .any(|s| s.end || matches!(s.kind, Kind::Succeed | Kind::Fail { .. }));
        if !terminal && !states.is_empty() {
            self.diags.push(Diagnostic {
                code: "NO_TERMINAL_STATE",
                message: "No terminal state found in machine".into(),
                location: states_at,
            });
        }
        Some(StateMachine {
            start_at: start_at.to_string(),
            states,
            timeout_seconds,
            query_language: ql,
            comment: obj
                .get("Comment")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    fn query_language(&mut self, v: &Value, at: &str) -> Option<QueryLanguage> {
        match v.as_str() {
            Some("JSONPath") => Some(QueryLanguage::JsonPath),
            Some("JSONata") => Some(QueryLanguage::Jsonata),
            _ => {
                self.err("QueryLanguage must be 'JSONPath' or 'JSONata'", at);
                None
            }
        }
    }

    fn state(
        &mut self,
        name: &str,
        o: &Map<String, Value>,
        at: &str,
        parent_ql: QueryLanguage,
    ) -> Option<State> {
        let Some(ty) = o.get("Type") else {
            self.err("These fields are required: [Type]", at);
            return None;
        };
        let Some(ty) = ty.as_str() else {
            self.err("Type must be a string", &ptr(at, "Type"));
            return None;
        };
        if !matches!(
            ty,
            "Pass" | "Task" | "Choice" | "Wait" | "Succeed" | "Fail" | "Parallel" | "Map"
        ) {
            self.err(
                format!("'{ty}' is not a valid state type"),
                &ptr(at, "Type"),
            );
            return None;
        }
        let ql = match o.get("QueryLanguage") {
            None => parent_ql,
            Some(v) => {
                let q = self.query_language(v, &ptr(at, "QueryLanguage"))?;
                if parent_ql == QueryLanguage::Jsonata && q == QueryLanguage::JsonPath {
                    self.err(
                        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                        at,
                    );
                    return None;
                }
                q
            }
        };
        let allowed = allowed_fields(ty, ql);
        for key in o.keys() {
            if !allowed.contains(&key.as_str()) {
                let other_ql = if ql == QueryLanguage::Jsonata {
                    QueryLanguage::JsonPath
                } else {
                    QueryLanguage::Jsonata
                };
                if allowed_fields(ty, other_ql).contains(&key.as_str()) {
                    let lang = if ql == QueryLanguage::Jsonata {
                        "JSONata"
                    } else {
                        "JSONPath"
                    };
                    self.err(
                        format!("The field '{key}' is not supported for states with QueryLanguage '{lang}'"),
                        &ptr(at, key),
                    );
                } else {
                    self.err(
                        format!("Field '{key}' is not supported for state type {ty}"),
                        &ptr(at, key),
                    );
                }
            }
        }

        // transitions
        let next = match o.get("Next") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.err("Next must be a string", &ptr(at, "Next"));
                None
            }
        };
        let end = match o.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err("End must be a boolean", &ptr(at, "End"));
                false
            }
        };
        let needs_transition = matches!(ty, "Pass" | "Task" | "Wait" | "Parallel" | "Map");
        if needs_transition {
            if next.is_some() && end {
                self.err("Only one of 'Next' or 'End' can be set", at);
            } else if next.is_none() && !end {
                self.err("This state must have either 'Next' or 'End: true'", at);
            }
        }

        let io = self.io(o, at, ql);
        let assign = self.assign(o.get("Assign"), &ptr(at, "Assign"), ql);
        let retry = self.retriers(o.get("Retry"), &ptr(at, "Retry"));
        let catch = self.catchers(o.get("Catch"), &ptr(at, "Catch"), ql);

        let kind = match ty {
            "Pass" => Kind::Pass {
                result: o.get("Result").cloned(),
            },
            "Task" => {
                let resource = match o.get("Resource") {
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => {
                        self.err("Resource must be a string", &ptr(at, "Resource"));
                        String::new()
                    }
                    None => {
                        self.err("These fields are required: [Resource]", at);
                        String::new()
                    }
                };
                if !resource.is_empty() && !resource.starts_with("arn:") {
                    self.err(
                        format!("Value is not a valid resource ARN: {resource}"),
                        &ptr(at, "Resource"),
                    );
                }
                let timeout_seconds = self.num_field(o, at, "TimeoutSeconds", ql, 1);
                let heartbeat_seconds = self.num_field(o, at, "HeartbeatSeconds", ql, 1);
                if let (Some(Field::Value(t)), Some(Field::Value(h))) =
                    (&timeout_seconds, &heartbeat_seconds)
                {
                    if h.as_i64() >= t.as_i64() {
                        self.err(
                            "HeartbeatSeconds must be smaller than TimeoutSeconds",
                            &ptr(at, "HeartbeatSeconds"),
                        );
                    }
                }
                Kind::Task(Box::new(Task {
                    resource,
                    timeout_seconds,
                    heartbeat_seconds,
                    credentials: o.get("Credentials").cloned(),
                }))
            }
            "Choice" => {
                let mut choices = Vec::new();
                match o.get("Choices") {
                    Some(Value::Array(a)) if !a.is_empty() => {
                        for (i, r) in a.iter().enumerate() {
                            let rp = ptr(&ptr(at, "Choices"), &i.to_string());
                            match choice::parse_rule(r, &rp, ql, true) {
                                Ok((condition, next)) => {
                                    let ro = r.as_object();
                                    choices.push(ChoiceRule {
                                        condition,
                                        next: next.unwrap_or_default(),
                                        assign: self.assign(
                                            ro.and_then(|m| m.get("Assign")),
                                            &ptr(&rp, "Assign"),
                                            ql,
                                        ),
                                        output: ro.and_then(|m| m.get("Output")).and_then(|v| {
                                            self.jsonata_template(v, "Output", &ptr(&rp, "Output"))
                                        }),
                                    })
                                }
                                Err(d) => self.diags.extend(d),
                            }
                        }
                    }
                    Some(_) => self.err("Choices must be a non-empty array", &ptr(at, "Choices")),
                    None => self.err("These fields are required: [Choices]", at),
                }
                let default = o.get("Default").and_then(Value::as_str).map(str::to_string);
                Kind::Choice { choices, default }
            }
            "Wait" => {
                let fields = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"];
                let present: Vec<&str> = fields
                    .iter()
                    .copied()
                    .filter(|f| o.contains_key(*f))
                    .collect();
                if present.len() != 1 {
                    self.err(
                        "A Wait state must have exactly one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'",
                        at,
                    );
                    return None;
                }
                if o.contains_key("Seconds") || o.contains_key("SecondsPath") {
                    Kind::Wait(WaitFor::Seconds(self.num_field(o, at, "Seconds", ql, 0)?))
                } else {
                    let ts = self.timestamp_field(o, at, ql)?;
                    Kind::Wait(WaitFor::Timestamp(ts))
                }
            }
            "Succeed" => Kind::Succeed,
            "Fail" => Kind::Fail {
                error: self.string_field(o, at, "Error", ql),
                cause: self.string_field(o, at, "Cause", ql),
            },
            "Parallel" => {
                let mut branches = Vec::new();
                match o.get("Branches") {
                    Some(Value::Array(a)) if !a.is_empty() => {
                        for (i, b) in a.iter().enumerate() {
                            let bp = ptr(&ptr(at, "Branches"), &i.to_string());
                            match b.as_object() {
                                Some(bo) => {
                                    if let Some(m) = self.machine(bo, &bp, Some(ql), false) {
                                        branches.push(m);
                                    }
                                }
                                None => self.err("A branch must be an object", &bp),
                            }
                        }
                    }
                    Some(_) => self.err("Branches must be a non-empty array", &ptr(at, "Branches")),
                    None => self.err("These fields are required: [Branches]", at),
                }
                Kind::Parallel { branches }
            }
            "Map" => Kind::Map(Box::new(self.map(o, at, ql)?)),
            _ => unreachable!("checked above"),
        };
        let text = serde_json::to_string(o).unwrap_or_default();
        let (uses_context, uses_execution_input) = context_reads(&text);
        Some(State {
            uses_context,
            uses_execution_input,
            name: name.to_string(),
            query_language: ql,
            next,
            end,
            io,
            assign,
            retry,
            catch,
            kind,
        })
    }

    fn reference(&mut self, v: &Value, at: &str, field: &str) -> Option<Reference> {
        match v.as_str().map(Reference::parse) {
            Some(Ok(r)) => Some(r),
            _ => {
                self.err(
                    format!("The value for the field '{field}' must be a valid JSONPath"),
                    at,
                );
                None
            }
        }
    }

    fn optional_reference(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        field: &str,
    ) -> Option<Option<Reference>> {
        match o.get(field)? {
            Value::Null => Some(None),
            v => self.reference(v, &ptr(at, field), field).map(Some),
        }
    }

    fn io(&mut self, o: &Map<String, Value>, at: &str, ql: QueryLanguage) -> Io {
        let mut io = Io::default();
        if ql == QueryLanguage::Jsonata {
            io.parameters = o
                .get("Arguments")
                .and_then(|v| self.jsonata_template(v, "Arguments", &ptr(at, "Arguments")));
            io.output = o
                .get("Output")
                .and_then(|v| self.jsonata_template(v, "Output", &ptr(at, "Output")));
            return io;
        }
        io.input_path = self.optional_reference(o, at, "InputPath");
        io.output_path = self.optional_reference(o, at, "OutputPath");
        io.result_path = match o.get("ResultPath") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match JsonPath::parse(s) {
                Ok(p) if p.is_definite() => Some(Some(p)),
                _ => {
                    self.err(
                        "The value for the field 'ResultPath' must be a valid reference path",
                        &ptr(at, "ResultPath"),
                    );
                    None
                }
            },
            Some(_) => {
                self.err(
                    "ResultPath must be a string or null",
                    &ptr(at, "ResultPath"),
                );
                None
            }
        };
        // Map's Parameters is the legacy ItemSelector, compiled in `map`.
        if o.get("Type").and_then(Value::as_str) != Some("Map") {
            io.parameters = o
                .get("Parameters")
                .and_then(|v| self.path_template(v, &ptr(at, "Parameters")));
        }
        io.result_selector = o
            .get("ResultSelector")
            .and_then(|v| self.path_template(v, &ptr(at, "ResultSelector")));
        io
    }

    fn path_template(&mut self, v: &Value, at: &str) -> Option<Template> {
        if !v.is_object() {
            self.err("The value must be a JSON object", at);
            return None;
        }
        match Template::jsonpath(v) {
            Ok(t) => Some(t),
            Err((key, msg)) => {
                self.err(format!("The value for the field '{key}' {msg}"), at);
                None
            }
        }
    }

    fn jsonata_template(&mut self, v: &Value, field: &str, at: &str) -> Option<Template> {
        match Template::jsonata(v, field) {
            Ok(t) => Some(t),
            Err((f, msg)) => {
                self.err(
                    format!("The JSONata expression for the field '{f}' is invalid: {msg}"),
                    at,
                );
                None
            }
        }
    }

    fn assign(&mut self, v: Option<&Value>, at: &str, ql: QueryLanguage) -> Option<Template> {
        let v = v?;
        if !v.is_object() {
            self.err("Assign must be a JSON object", at);
            return None;
        }
        if let Some(o) = v.as_object() {
            for k in o.keys() {
                let name = k.strip_suffix(".$").unwrap_or(k);
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && name.len() <= 80;
                if !valid || (ql == QueryLanguage::Jsonata && k.ends_with(".$")) {
                    self.err(format!("The variable name '{k}' is not valid"), &ptr(at, k));
                    return None;
                }
            }
        }
        match ql {
            QueryLanguage::JsonPath => self.path_template(v, at),
            QueryLanguage::Jsonata => self.jsonata_template(v, "Assign", at),
        }
    }

    fn error_equals(&mut self, o: &Map<String, Value>, at: &str) -> Vec<String> {
        let Some(Value::Array(a)) = o.get("ErrorEquals") else {
            self.err("These fields are required: [ErrorEquals]", at);
            return vec![];
        };
        let names: Vec<String> = a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if names.is_empty() || names.len() != a.len() {
            self.err(
                "ErrorEquals must be a non-empty array of strings",
                &ptr(at, "ErrorEquals"),
            );
        }
        if names.len() > 1 && names.iter().any(|n| n == "States.ALL") {
            self.err(
                "'States.ALL' must appear alone in 'ErrorEquals'",
                &ptr(at, "ErrorEquals"),
            );
        }
        names
    }

    fn retriers(&mut self, v: Option<&Value>, at: &str) -> Vec<Retrier> {
        let Some(v) = v else { return vec![] };
        let Some(a) = v.as_array() else {
            self.err("Retry must be an array", at);
            return vec![];
        };
        let mut out = Vec::new();
        for (i, r) in a.iter().enumerate() {
            let rp = ptr(at, &i.to_string());
            let Some(o) = r.as_object() else {
                self.err("A retrier must be an object", &rp);
                continue;
            };
            let error_equals = self.error_equals(o, &rp);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != a.len() {
                self.err("'States.ALL' must be the last retrier", &rp);
            }
            let num = |k: &str| o.get(k).and_then(Value::as_f64);
            let interval_seconds = num("IntervalSeconds").unwrap_or(1.0);
            if o.contains_key("IntervalSeconds")
                && !(o["IntervalSeconds"].is_u64()
                    && (1.0..=99_999_999.0).contains(&interval_seconds))
            {
                self.err(
                    "IntervalSeconds must be an integer from 1 to 99999999",
                    &ptr(&rp, "IntervalSeconds"),
                );
            }
            let max_attempts = o.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3);
            if o.contains_key("MaxAttempts") && !o["MaxAttempts"].is_u64() {
                self.err(
                    "MaxAttempts must be a non-negative integer",
                    &ptr(&rp, "MaxAttempts"),
                );
            }
            let backoff_rate = num("BackoffRate").unwrap_or(2.0);
            if backoff_rate < 1.0 {
                self.err("BackoffRate must be at least 1.0", &ptr(&rp, "BackoffRate"));
            }
            let max_delay_seconds = num("MaxDelaySeconds");
            if let Some(d) = max_delay_seconds {
                if !(1.0..=31_622_400.0).contains(&d) {
                    self.err(
                        "MaxDelaySeconds must be from 1 to 31622400",
                        &ptr(&rp, "MaxDelaySeconds"),
                    );
                }
            }
            let jitter = match o.get("JitterStrategy").and_then(Value::as_str) {
                None | Some("NONE") => false,
                Some("FULL") => true,
                Some(_) => {
                    self.err(
                        "JitterStrategy must be FULL or NONE",
                        &ptr(&rp, "JitterStrategy"),
                    );
                    false
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                jitter,
            });
        }
        out
    }

    fn catchers(&mut self, v: Option<&Value>, at: &str, ql: QueryLanguage) -> Vec<Catcher> {
        let Some(v) = v else { return vec![] };
        let Some(a) = v.as_array() else {
            self.err("Catch must be an array", at);
            return vec![];
        };
        let mut out = Vec::new();
        for (i, c) in a.iter().enumerate() {
            let cp = ptr(at, &i.to_string());
            let Some(o) = c.as_object() else {
                self.err("A catcher must be an object", &cp);
                continue;
            };
            let error_equals = self.error_equals(o, &cp);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != a.len() {
                self.err("'States.ALL' must be the last catcher", &cp);
            }
            let Some(next) = o.get("Next").and_then(Value::as_str) else {
                self.err("These fields are required: [Next]", &cp);
                continue;
            };
            let result_path = match o.get("ResultPath") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) if ql == QueryLanguage::JsonPath => {
                    match JsonPath::parse(s) {
                        Ok(p) if p.is_definite() => Some(Some(p)),
                        _ => {
                            self.err("The value for the field 'ResultPath' must be a valid reference path", &ptr(&cp, "ResultPath"));
                            None
                        }
                    }
                }
                Some(_) => {
                    self.err("ResultPath is not valid here", &ptr(&cp, "ResultPath"));
                    None
                }
            };
            let output = match (ql, o.get("Output")) {
                (QueryLanguage::Jsonata, Some(v)) => {
                    self.jsonata_template(v, "Output", &ptr(&cp, "Output"))
                }
                (QueryLanguage::JsonPath, Some(_)) => {
                    self.err("The field 'Output' is not supported for states with QueryLanguage 'JSONPath'", &ptr(&cp, "Output"));
                    None
                }
                _ => None,
            };
            out.push(Catcher {
                error_equals,
                next: next.to_string(),
                result_path,
                output,
                assign: self.assign(o.get("Assign"), &ptr(&cp, "Assign"), ql),
            });
        }
        out
    }

    /// A `{% ... %}` value of a JSONata state, compiled. `None` when `v` is not one (the caller
    /// checks the literal); `Some(None)` when the expression does not compile (reported).
    fn jsonata_field(&mut self, v: &Value, ql: QueryLanguage, at: &str) -> Option<Option<Field>> {
        let src = v
            .as_str()
            .and_then(jsonata_source)
            .filter(|_| ql == QueryLanguage::Jsonata)?;
        Some(match compile_jsonata(src) {
            Ok(e) => Some(Field::Jsonata(Box::new(e), src.to_string())),
            Err(e) => {
                self.err(format!("Invalid JSONata expression: {e}"), at);
                None
            }
        })
    }

    /// `X` / `XPath` numeric fields (Seconds, TimeoutSeconds, MaxConcurrency...).
    fn num_field(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        name: &str,
        ql: QueryLanguage,
        min: i64,
    ) -> Option<Field> {
        let path_name = format!("{name}Path");
        if o.contains_key(name) && o.contains_key(&path_name) {
            self.err(
                format!("Only one of '{name}' and '{path_name}' can be set"),
                at,
            );
            return None;
        }
        if let Some(v) = o.get(&path_name) {
            return self
                .reference(v, &ptr(at, &path_name), &path_name)
                .map(Field::Path);
        }
        let v = o.get(name)?;
        if let Some(f) = self.jsonata_field(v, ql, &ptr(at, name)) {
            return f;
        }
        match v.as_i64() {
            Some(n) if n >= min && n <= 99_999_999 => Some(Field::Value(v.clone())),
            _ => {
                self.err(
                    format!("'{name}' must be an integer from {min} to 99999999"),
                    &ptr(at, name),
                );
                None
            }
        }
    }

    fn timestamp_field(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        ql: QueryLanguage,
    ) -> Option<Field> {
        if let Some(v) = o.get("TimestampPath") {
            return self
                .reference(v, &ptr(at, "TimestampPath"), "TimestampPath")
                .map(Field::Path);
        }
        let v = o.get("Timestamp")?;
        if let Some(f) = self.jsonata_field(v, ql, &ptr(at, "Timestamp")) {
            return f;
        }
        let s = v.as_str().unwrap_or("");
        if crate::time::parse_timestamp(s).is_none() {
            self.err(
                "String does not match RFC3339 timestamp",
                &ptr(at, "Timestamp"),
            );
            return None;
        }
        Some(Field::Value(v.clone()))
    }

    /// Fail's `Error`/`ErrorPath`, `Cause`/`CausePath`.
    fn string_field(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        name: &str,
        ql: QueryLanguage,
    ) -> Option<Field> {
        let path_name = format!("{name}Path");
        if let Some(v) = o.get(&path_name) {
            let s = v.as_str().unwrap_or("");
            if crate::intrinsics::looks_like_call(s) {
                return match crate::intrinsics::parse(s) {
                    Ok(call) => Some(Field::Call(call)),
                    Err(_) => {
                        self.err(
                            format!("The value for the field '{path_name}' must be a valid JSONPath or a valid intrinsic function call"),
                            &ptr(at, &path_name),
                        );
                        None
                    }
                };
            }
            return self
                .reference(v, &ptr(at, &path_name), &path_name)
                .map(Field::Path);
        }
        let v = o.get(name)?;
        if !v.is_string() {
            self.err(format!("'{name}' must be a string"), &ptr(at, name));
            return None;
        }
        if let Some(f) = self.jsonata_field(v, ql, &ptr(at, name)) {
            return f;
        }
        Some(Field::Value(v.clone()))
    }

    fn map(&mut self, o: &Map<String, Value>, at: &str, ql: QueryLanguage) -> Option<MapState> {
        let (proc_key, proc_v) = match (o.get("ItemProcessor"), o.get("Iterator")) {
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(p)) => ("Iterator", p),
            (Some(_), Some(_)) => {
                self.err("Only one of 'ItemProcessor' and 'Iterator' can be set", at);
                return None;
            }
            (None, None) => {
                self.err("These fields are required: [ItemProcessor]", at);
                return None;
            }
        };
        let pp = ptr(at, proc_key);
        let Some(po) = proc_v.as_object() else {
            self.err("The item processor must be an object", &pp);
            return None;
        };
        let distributed = match po.get("ProcessorConfig").and_then(|c| c.get("Mode")) {
            None => false,
            Some(Value::String(m)) if m == "INLINE" => false,
            Some(Value::String(m)) if m == "DISTRIBUTED" => true,
            Some(_) => {
                self.err(
                    "Mode must be INLINE or DISTRIBUTED",
                    &ptr(&ptr(&pp, "ProcessorConfig"), "Mode"),
                );
                false
            }
        };
        let processor = self.machine(po, &pp, Some(ql), false)?;

        if let Some(label) = o.get("Label") {
            let l = label.as_str().unwrap_or("");
            if let Some(msg) = label_problem(l) {
                self.diags.push(Diagnostic {
                    code: "RAW",
                    message: format!(
                        "Error=ValueError Args={} in definition '<definition>'.",
                        python_repr_list(&msg)
                    ),
                    location: ptr(at, "Label"),
                });
            }
        }

        let item_selector_key = if o.contains_key("ItemSelector") {
            Some("ItemSelector")
        } else if o.contains_key("Parameters") {
            Some("Parameters")
        } else {
            None
        };
        let item_selector = item_selector_key.and_then(|k| match ql {
            QueryLanguage::JsonPath => self.path_template(&o[k], &ptr(at, k)),
            QueryLanguage::Jsonata => self.jsonata_template(&o[k], k, &ptr(at, k)),
        });
        let items_path = match o.get("ItemsPath") {
            None => None,
            Some(v) => Some(self.reference(v, &ptr(at, "ItemsPath"), "ItemsPath")?),
        };
        let items = o
            .get("Items")
            .and_then(|v| self.jsonata_template(v, "Items", &ptr(at, "Items")));
        let item_batcher = match o.get("ItemBatcher") {
            None => None,
            Some(Value::Object(b)) => {
                let bp = ptr(at, "ItemBatcher");
                Some(ItemBatcher {
                    max_items: self.num_field(b, &bp, "MaxItemsPerBatch", ql, 0),
                    max_input_bytes: self.num_field(b, &bp, "MaxInputBytesPerBatch", ql, 0),
                    batch_input: b.get("BatchInput").and_then(|v| match ql {
                        QueryLanguage::JsonPath => self.path_template(v, &ptr(&bp, "BatchInput")),
                        QueryLanguage::Jsonata => {
                            self.jsonata_template(v, "BatchInput", &ptr(&bp, "BatchInput"))
                        }
                    }),
                })
            }
            Some(_) => {
                self.err("ItemBatcher must be an object", &ptr(at, "ItemBatcher"));
                None
            }
        };
        Some(MapState {
            items_path,
            items,
            item_selector,
            processor,
            distributed,
            max_concurrency: self.num_field(o, at, "MaxConcurrency", ql, 0),
            tolerated_failure_percentage: self.loose_num_field(
                o,
                at,
                "ToleratedFailurePercentage",
                ql,
            ),
            tolerated_failure_count: self.loose_num_field(o, at, "ToleratedFailureCount", ql),
            label: o.get("Label").and_then(Value::as_str).map(str::to_string),
            item_batcher,
            item_reader: o
                .get("ItemReader")
                .and_then(|v| self.item_reader(v, &ptr(at, "ItemReader"), ql, distributed)),
            result_writer: o
                .get("ResultWriter")
                .and_then(|v| self.result_writer(v, &ptr(at, "ResultWriter"), ql, distributed)),
        })
    }

    /// `Parameters` in JSONPath, `Arguments` in JSONata: the S3 call's fields.
    fn s3_arguments(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        ql: QueryLanguage,
    ) -> Option<Template> {
        let key = match ql {
            QueryLanguage::JsonPath => "Parameters",
            QueryLanguage::Jsonata => "Arguments",
        };
        let v = o.get(key)?;
        match ql {
            QueryLanguage::JsonPath => self.path_template(v, &ptr(at, key)),
            QueryLanguage::Jsonata => self.jsonata_template(v, key, &ptr(at, key)),
        }
    }

    /// An `ItemReader` or `ResultWriter` object: only in a distributed Map, with only
    /// `Resource`, `Parameters`/`Arguments` and its `config` field.
    fn s3_block<'v>(
        &mut self,
        v: &'v Value,
        at: &str,
        name: &str,
        config: &str,
        distributed: bool,
    ) -> Option<&'v Map<String, Value>> {
        let Some(o) = v.as_object() else {
            self.err(format!("{name} must be an object"), at);
            return None;
        };
        if !distributed {
            self.err(
                format!(
                    "{name} is only supported in a Map whose ProcessorConfig Mode is DISTRIBUTED"
                ),
                at,
            );
        }
        for k in o.keys() {
            if !["Resource", "Parameters", "Arguments", config].contains(&k.as_str()) {
                self.err(
                    format!("Field '{k}' is not supported in {name}"),
                    &ptr(at, k),
                );
            }
        }
        Some(o)
    }

    fn item_reader(
        &mut self,
        v: &Value,
        at: &str,
        ql: QueryLanguage,
        distributed: bool,
    ) -> Option<crate::states::item_reader::ItemReader> {
        use crate::states::item_reader::{delimiter, InputType, ItemReader, Source};
        let o = self.s3_block(v, at, "ItemReader", "ReaderConfig", distributed)?;
        let resource = o
            .get("Resource")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(source) = Source::of(resource) else {
            self.err(
                "ItemReader's Resource must be arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2",
                &ptr(at, "Resource"),
            );
            return None;
        };
        let parameters = self.s3_arguments(o, at, ql);
        let cp = ptr(at, "ReaderConfig");
        let empty = Map::new();
        let config = match o.get("ReaderConfig") {
            None => &empty,
            Some(Value::Object(c)) => c,
            Some(_) => {
                self.err("ReaderConfig must be an object", &cp);
                &empty
            }
        };
        let input_type = match config.get("InputType") {
            None => None,
            Some(t) => match t.as_str().and_then(InputType::of) {
                Some(t) => Some(t),
                None => {
                    self.err(
                        "InputType must be one of CSV, JSON, JSONL, MANIFEST, PARQUET",
                        &ptr(&cp, "InputType"),
                    );
                    None
                }
            },
        };
        if source == Source::GetObject && input_type.is_none() && !config.contains_key("InputType")
        {
            self.err(
                "ReaderConfig's InputType is required for arn:aws:states:::s3:getObject",
                &cp,
            );
        }
        let csv_headers = match config.get("CSVHeaderLocation").and_then(Value::as_str) {
            None | Some("FIRST_ROW") => None,
            Some("GIVEN") => match config.get("CSVHeaders").and_then(Value::as_array) {
                Some(h) if !h.is_empty() && h.iter().all(Value::is_string) => Some(
                    h.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                ),
                _ => {
                    self.err(
                        "CSVHeaders must be a non-empty list of strings when CSVHeaderLocation is GIVEN",
                        &ptr(&cp, "CSVHeaders"),
                    );
                    None
                }
            },
            Some(_) => {
                self.err(
                    "CSVHeaderLocation must be FIRST_ROW or GIVEN",
                    &ptr(&cp, "CSVHeaderLocation"),
                );
                None
            }
        };
        let csv_delimiter = match config.get("CSVDelimiter") {
            None => b',',
            Some(d) => d.as_str().and_then(delimiter).unwrap_or_else(|| {
                self.err(
                    "CSVDelimiter must be one of COMMA, PIPE, SEMICOLON, SPACE, TAB",
                    &ptr(&cp, "CSVDelimiter"),
                );
                b','
            }),
        };
        let items_pointer = match config.get("ItemsPointer") {
            None => None,
            Some(Value::String(p)) if p.is_empty() || p.starts_with('/') => Some(p.clone()),
            Some(_) => {
                self.err(
                    "ItemsPointer must be a JSON pointer",
                    &ptr(&cp, "ItemsPointer"),
                );
                None
            }
        };
        Some(ItemReader {
            resource: resource.to_string(),
            source,
            parameters,
            input_type,
            csv_headers,
            csv_delimiter,
            items_pointer,
            max_items: self.num_field(config, &cp, "MaxItems", ql, 0),
        })
    }

    fn result_writer(
        &mut self,
        v: &Value,
        at: &str,
        ql: QueryLanguage,
        distributed: bool,
    ) -> Option<crate::states::result_writer::ResultWriter> {
        use crate::states::result_writer::{OutputType, ResultWriter, Transformation, PUT_OBJECT};
        let o = self.s3_block(v, at, "ResultWriter", "WriterConfig", distributed)?;
        let resource = match o.get("Resource") {
            None => None,
            Some(Value::String(r)) if r == PUT_OBJECT => Some(r.clone()),
            Some(_) => {
                self.err(
                    format!("ResultWriter's Resource must be {PUT_OBJECT}"),
                    &ptr(at, "Resource"),
                );
                return None;
            }
        };
        let parameters = self.s3_arguments(o, at, ql);
        if resource.is_some() != parameters.is_some() {
            self.err(
                "ResultWriter needs both Resource and Parameters (Arguments in JSONata) to export results",
                at,
            );
        }
        let wp = ptr(at, "WriterConfig");
        let config = o.get("WriterConfig").and_then(Value::as_object);
        if resource.is_none() && config.is_none() {
            self.err(
                "ResultWriter cannot be empty: give WriterConfig, or Resource and Parameters",
                at,
            );
        }
        let pick = |k: &str| config.and_then(|c| c.get(k));
        let transformation = match pick("Transformation") {
            None => None,
            Some(t) => match t.as_str().and_then(Transformation::of) {
                Some(t) => Some(t),
                None => {
                    self.err(
                        "Transformation must be NONE, COMPACT or FLATTEN",
                        &ptr(&wp, "Transformation"),
                    );
                    None
                }
            },
        };
        let output_type = match pick("OutputType") {
            None => OutputType::Json,
            Some(t) => t.as_str().and_then(OutputType::of).unwrap_or_else(|| {
                self.err("OutputType must be JSON or JSONL", &ptr(&wp, "OutputType"));
                OutputType::Json
            }),
        };
        Some(ResultWriter {
            resource,
            parameters,
            transformation,
            output_type,
        })
    }

    /// Tolerated-failure fields: range checks happen at run time, as on AWS.
    fn loose_num_field(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        name: &str,
        ql: QueryLanguage,
    ) -> Option<Field> {
        let path_name = format!("{name}Path");
        if let Some(v) = o.get(&path_name) {
            return self
                .reference(v, &ptr(at, &path_name), &path_name)
                .map(Field::Path);
        }
        let v = o.get(name)?;
        if let Some(f) = self.jsonata_field(v, ql, &ptr(at, name)) {
            return f;
        }
        if !v.is_number() {
            self.err(format!("'{name}' must be a number"), &ptr(at, name));
            return None;
        }
        Some(Field::Value(v.clone()))
    }
}

/// AWS's rules for a Map `Label`: at most 40 characters, none of the reserved ones.
fn label_problem(l: &str) -> Option<String> {
    if l.is_empty() {
        return Some("Label cannot be empty".into());
    }
    if l.chars().count() > 40 {
        return Some("Label cannot exceed 40 characters".into());
    }
    for c in l.chars() {
        let bad = c.is_whitespace()
            || "?*<>{}[]:;,\\|^~$#%&`\"".contains(c)
            || (c as u32) < 0x20
            || (0x7f..=0x9f).contains(&(c as u32));
        if bad {
            return Some(format!(
                "Label contains invalid character: {}",
                python_repr(&c.to_string())
            ));
        }
    }
    None
}

/// Python's `repr` of a string (AWS's Label messages come from a Python validator).
fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn python_repr_list(item: &str) -> String {
    format!("[{}]", python_repr(item))
}

impl State {
    /// The states this one can move to.
    pub fn targets(&self) -> Vec<&str> {
        self.targets_with_fields()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    fn targets_with_fields(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        if let Some(n) = &self.next {
            out.push(("Next".to_string(), n.as_str()));
        }
        if let Kind::Choice { choices, default } = &self.kind {
            for (i, c) in choices.iter().enumerate() {
                out.push((format!("Choices/{i}/Next"), c.next.as_str()));
            }
            if let Some(d) = default {
                out.push(("Default".to_string(), d.as_str()));
            }
        }
        for (i, c) in self.catch.iter().enumerate() {
            out.push((format!("Catch/{i}/Next"), c.next.as_str()));
        }
        out
    }

    /// The history event types this state records on entry and exit.
    pub fn entered_exited(&self) -> (&'static str, &'static str) {
        match self.kind {
            Kind::Pass { .. } => ("PassStateEntered", "PassStateExited"),
            Kind::Task(_) => ("TaskStateEntered", "TaskStateExited"),
            Kind::Choice { .. } => ("ChoiceStateEntered", "ChoiceStateExited"),
            Kind::Wait(_) => ("WaitStateEntered", "WaitStateExited"),
            Kind::Succeed => ("SucceedStateEntered", "SucceedStateExited"),
            Kind::Fail { .. } => ("FailStateEntered", "FailStateExited"),
            Kind::Parallel { .. } => ("ParallelStateEntered", "ParallelStateExited"),
            Kind::Map(_) => ("MapStateEntered", "MapStateExited"),
        }
    }

    /// The `Type` as AWS names it.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Pass { .. } => "Pass",
            Kind::Task(_) => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel { .. } => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diags(v: Value) -> Vec<String> {
        match StateMachine::from_value(&v) {
            Ok(_) => vec![],
            Err(d) => d
                .into_iter()
                .map(|d| format!("{} {} @{}", d.code, d.message, d.location))
                .collect(),
        }
    }

    #[test]
    fn the_execution_input_is_read_only_through_references_that_may_reach_it() {
        for (text, reads) in [
            (
                r#"{"v.$":"$$.Map.Item.Value","n.$":"$$.Execution.Name"}"#,
                (true, false),
            ),
            (
                r#"{"s.$":"$$.StateMachine.Id","t.$":"$$.Task.Token"}"#,
                (true, false),
            ),
            (r#"{"i.$":"$$.Execution.Input.a"}"#, (true, true)),
            (
                r#"{"e.$":"$$.Execution","n.$":"$$.Execution.Name"}"#,
                (true, true),
            ),
            (r#"{"all.$":"$$"}"#, (true, true)),
            (r#"{"b.$":"$$['Execution']['Input']"}"#, (true, true)),
            ("{% $states.input.a & $states.result %}", (false, false)),
            ("{% $states.context.Execution.Name %}", (true, false)),
            ("{% $states.context.Execution.Input %}", (true, true)),
            ("{% $string($states) %}", (true, true)),
            (r#"{"Comment":"no context here"}"#, (true, false)),
            (r#"{"v.$":"$.a"}"#, (false, false)),
        ] {
            assert_eq!(context_reads(text), reads, "{text}");
        }
    }

    #[test]
    fn valid_machine_parses() {
        assert!(
            diags(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}))
                .is_empty()
        );
    }

    #[test]
    fn reports_every_problem_with_location() {
        let d = diags(json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Nope"},
            "B": {"Type": "Pass"},
            "C": {"Type": "Wait", "Timestamp": "yesterday", "End": true}
        }}));
        let text = d.join("\n");
        assert!(
            text.contains("MISSING_TRANSITION_TARGET Missing 'Next' target: Nope @/States/A/Next"),
            "{text}"
        );
        assert!(text.contains("@/States/B"), "{text}");
        assert!(
            text.contains("MISSING_TRANSITION_TARGET State \"B\" is not reachable. @/States/B"),
            "{text}"
        );
        assert!(
            text.contains("RFC3339 timestamp @/States/C/Timestamp"),
            "{text}"
        );
    }

    #[test]
    fn missing_top_level_fields() {
        assert_eq!(
            diags(json!({})),
            vec!["SCHEMA_VALIDATION_FAILED These fields are required: [States, StartAt] @/"]
        );
    }

    #[test]
    fn states_all_must_be_last() {
        let d = diags(
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}}),
        );
        assert!(
            d.iter()
                .any(|m| m.contains("must be the last retrier @/States/A/Retry/0")),
            "{d:?}"
        );
    }

    #[test]
    fn jsonpath_fields_in_jsonata_state() {
        let d = diags(
            json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$", "End": true}}}),
        );
        assert!(d.iter().any(|m| m.contains("'InputPath' is not supported for states with QueryLanguage 'JSONata' @/States/A/InputPath")), "{d:?}");
    }

    #[test]
    fn label_messages_match_aws() {
        assert_eq!(
            label_problem("a b").unwrap(),
            "Label contains invalid character: ' '"
        );
        assert_eq!(
            python_repr_list("Label contains invalid character: '\"'"),
            "['Label contains invalid character: \\'\"\\'']"
        );
    }
}
