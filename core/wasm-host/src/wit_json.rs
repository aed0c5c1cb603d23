//! WIT values as JSON, and calls made with them: the local runner's `--wit` input and output
//! (`kith plugin run --wit`), shaped exactly like the contract's types of the component's own
//! version, whatever it is.
//!
//! The mapping, for every WIT type:
//!
//! | WIT | JSON |
//! | --- | --- |
//! | `bool` | `true` / `false` |
//! | integers (`u8` .. `s64`, and `timestamp`, an `s64` of microseconds) | a number, range-checked |
//! | `f32`, `f64` | a number (out: `"NaN"`, `"inf"`, `"-inf"` for those) |
//! | `char`, `string` | a string |
//! | `list<T>`, `tuple<..>` | an array (`list<u8>` too) |
//! | `record` | an object keyed by the WIT field names (`display-name`); an `option` field may be left out |
//! | `enum` | the case name: `"purchase"` |
//! | `variant` | `{"case": payload}`, or the case name alone for a case without payload: `{"text": "x"}`, `"accepted"` |
//! | `option<T>` | `null` or the value |
//! | `result<T, E>` | `{"ok": value}` or `{"err": value}` |
//! | `flags` | an array of the names set |
//!
//! Errors name the offending place by JSON Pointer (`/input/customer/aggregates/0/kind`).

use serde_json::{Map, Value};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Type, Val};

use super::bindings::WorldPre;
use super::call::{CallOptions, CallReport, Env, run};
use super::sandbox::Determinism;
use super::size::EncodedSize;
use super::{LoadedPlugin, PluginFailure, Runtime};

/// `json` as a value of `ty`, or what is wrong and where (`at` is the JSON Pointer of `json`).
pub fn to_val(json: &Value, ty: &Type, at: &str) -> Result<Val, String> {
    let wrong = |expected: &str| {
        format!(
            "{}: expected {expected}, got {}",
            at_or_root(at),
            kind(json)
        )
    };
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| wrong("true or false"))?),
        Type::S8 => Val::S8(signed(json, at)?),
        Type::S16 => Val::S16(signed(json, at)?),
        Type::S32 => Val::S32(signed(json, at)?),
        Type::S64 => Val::S64(signed(json, at)?),
        Type::U8 => Val::U8(unsigned(json, at)?),
        Type::U16 => Val::U16(unsigned(json, at)?),
        Type::U32 => Val::U32(unsigned(json, at)?),
        Type::U64 => Val::U64(unsigned(json, at)?),
        // JSON numbers are f64; an f32 takes the nearest value.
        Type::Float32 => Val::Float32(json.as_f64().ok_or_else(|| wrong("a number"))? as f32),
        Type::Float64 => Val::Float64(json.as_f64().ok_or_else(|| wrong("a number"))?),
        Type::Char => {
            let text = json
                .as_str()
                .ok_or_else(|| wrong("a one-character string"))?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(wrong("a one-character string")),
            }
        }
        Type::String => Val::String(json.as_str().ok_or_else(|| wrong("a string"))?.to_owned()),
        Type::List(list) => {
            let items = json.as_array().ok_or_else(|| wrong("an array"))?;
            let ty = list.ty();
            Val::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| to_val(item, &ty, &format!("{at}/{i}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Tuple(tuple) => {
            let items = json.as_array().ok_or_else(|| wrong("an array"))?;
            let types: Vec<Type> = tuple.types().collect();
            if items.len() != types.len() {
                return Err(wrong(&format!("an array of {} values", types.len())));
            }
            Val::Tuple(
                items
                    .iter()
                    .zip(&types)
                    .enumerate()
                    .map(|(i, (item, ty))| to_val(item, ty, &format!("{at}/{i}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(record) => {
            let object = json.as_object().ok_or_else(|| wrong("an object"))?;
            let names: Vec<&str> = record.fields().map(|f| f.name).collect();
            if let Some(unknown) = object.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(format!(
                    "{}: unknown field {unknown:?}; the fields are {}",
                    at_or_root(at),
                    names.join(", ")
                ));
            }
            let mut fields = Vec::with_capacity(names.len());
            for field in record.fields() {
                let here = format!("{at}/{}", escape(field.name));
                let value = match (object.get(field.name), &field.ty) {
                    (Some(value), ty) => to_val(value, ty, &here)?,
                    (None, Type::Option(_)) => Val::Option(None),
                    (None, _) => return Err(format!("{here}: missing")),
                };
                fields.push((field.name.to_owned(), value));
            }
            Val::Record(fields)
        }
        Type::Variant(variant) => {
            let cases: Vec<(String, Option<Type>)> =
                variant.cases().map(|c| (c.name.to_owned(), c.ty)).collect();
            let names = || {
                cases
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (name, payload) = match json {
                Value::String(name) => (name.as_str(), None),
                Value::Object(o) if o.len() == 1 => o
                    .iter()
                    .next()
                    .map(|(k, v)| (k.as_str(), Some(v)))
                    .ok_or_else(|| wrong("a case"))?,
                _ => {
                    return Err(wrong(&format!(
                        "one of {} (a case name or {{\"case\": value}})",
                        names()
                    )));
                }
            };
            let (_, ty) = cases.iter().find(|(n, _)| n == name).ok_or_else(|| {
                format!(
                    "{}: unknown case {name:?}; the cases are {}",
                    at_or_root(at),
                    names()
                )
            })?;
            let here = format!("{at}/{}", escape(name));
            let payload = match (ty, payload) {
                (Some(ty), Some(value)) => Some(Box::new(to_val(value, ty, &here)?)),
                (Some(_), None) => return Err(format!("{here}: this case carries a value")),
                (None, None | Some(Value::Null)) => None,
                (None, Some(_)) => return Err(format!("{here}: this case carries no value")),
            };
            Val::Variant(name.to_owned(), payload)
        }
        Type::Enum(cases) => {
            let names: Vec<&str> = cases.names().collect();
            match json.as_str() {
                Some(name) if names.contains(&name) => Val::Enum(name.to_owned()),
                _ => return Err(wrong(&format!("one of {}", names.join(", ")))),
            }
        }
        Type::Option(option) => match json {
            Value::Null => Val::Option(None),
            value => Val::Option(Some(Box::new(to_val(value, &option.ty(), at)?))),
        },
        Type::Result(result) => {
            let (ok, value) = match json
                .as_object()
                .map(|o| o.iter().collect::<Vec<_>>())
                .as_deref()
            {
                Some([(k, v)]) if k.as_str() == "ok" => (true, *v),
                Some([(k, v)]) if k.as_str() == "err" => (false, *v),
                _ => return Err(wrong("{\"ok\": value} or {\"err\": value}")),
            };
            let ty = if ok { result.ok() } else { result.err() };
            let here = format!("{at}/{}", if ok { "ok" } else { "err" });
            let value = match (ty, value) {
                (Some(ty), value) => Some(Box::new(to_val(value, &ty, &here)?)),
                (None, Value::Null) => None,
                (None, _) => return Err(format!("{here}: expected null")),
            };
            Val::Result(if ok { Ok(value) } else { Err(value) })
        }
        Type::Flags(flags) => {
            let names: Vec<&str> = flags.names().collect();
            let items = json
                .as_array()
                .ok_or_else(|| wrong("an array of flag names"))?;
            let mut set = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(name) if names.contains(&name) => set.push(name.to_owned()),
                    _ => {
                        return Err(format!(
                            "{at}/{i}: expected one of {}, got {}",
                            names.join(", "),
                            kind(item)
                        ));
                    }
                }
            }
            Val::Flags(set)
        }
        _ => {
            return Err(format!(
                "{}: this WIT type has no JSON form here",
                at_or_root(at)
            ));
        }
    })
}

/// `json` as a signed integer of type `T`, range-checked.
fn signed<T: TryFrom<i64> + Bounded>(json: &Value, at: &str) -> Result<T, String> {
    json.as_i64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "{}: expected an integer from {} to {}, got {}",
                at_or_root(at),
                T::MIN,
                T::MAX,
                kind(json)
            )
        })
}

/// `json` as an unsigned integer of type `T`, range-checked.
fn unsigned<T: TryFrom<u64> + Bounded>(json: &Value, at: &str) -> Result<T, String> {
    json.as_u64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "{}: expected an integer from 0 to {}, got {}",
                at_or_root(at),
                T::MAX,
                kind(json)
            )
        })
}

/// The range of an integer type, for errors.
trait Bounded {
    /// The smallest value.
    const MIN: i128;
    /// The largest value.
    const MAX: i128;
}

/// Implements [`Bounded`] for primitive integers.
macro_rules! bounded {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            const MIN: i128 = <$t>::MIN as i128;
            const MAX: i128 = <$t>::MAX as i128;
        }
    )*};
}
bounded!(i8, i16, i32, i64, u8, u16, u32, u64);

/// `val` as JSON (the inverse of [`to_val`]).
pub fn to_json(val: &Val) -> Value {
    let float = |f: f64| {
        if f.is_nan() {
            Value::from("NaN")
        } else if f.is_infinite() {
            Value::from(if f > 0.0 { "inf" } else { "-inf" })
        } else {
            Value::from(f)
        }
    };
    let boxed = |v: &Option<Box<Val>>| v.as_deref().map_or(Value::Null, to_json);
    match val {
        Val::Bool(b) => Value::from(*b),
        Val::S8(n) => Value::from(*n),
        Val::U8(n) => Value::from(*n),
        Val::S16(n) => Value::from(*n),
        Val::U16(n) => Value::from(*n),
        Val::S32(n) => Value::from(*n),
        Val::U32(n) => Value::from(*n),
        Val::S64(n) => Value::from(*n),
        Val::U64(n) => Value::from(*n),
        Val::Float32(f) => float(f64::from(*f)),
        Val::Float64(f) => float(*f),
        Val::Char(c) => Value::from(c.to_string()),
        Val::String(s) => Value::from(s.as_str()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        Val::Map(pairs) => Value::Array(
            pairs
                .iter()
                .map(|(k, v)| Value::Array(vec![to_json(k), to_json(v)]))
                .collect(),
        ),
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => Value::from(name.as_str()),
        Val::Variant(name, Some(v)) => Value::Object(Map::from_iter([(name.clone(), to_json(v))])),
        Val::Option(v) => boxed(v),
        Val::Result(Ok(v)) => Value::Object(Map::from_iter([("ok".to_owned(), boxed(v))])),
        Val::Result(Err(v)) => Value::Object(Map::from_iter([("err".to_owned(), boxed(v))])),
        Val::Flags(names) => Value::Array(names.iter().map(|n| Value::from(n.as_str())).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => {
            Value::from("<handle>")
        }
    }
}

/// `at`, or `/` for the root.
fn at_or_root(at: &str) -> &str {
    if at.is_empty() { "/" } else { at }
}

/// A JSON Pointer token (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// What kind of JSON value `v` is, for errors.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The output of a WIT call, as JSON; its size is the size of its JSON text.
struct WitOutput(Value);

impl EncodedSize for WitOutput {
    fn encoded_size(&self) -> u64 {
        self.0.to_string().len() as u64
    }
}

impl Runtime {
    /// The arguments of `plugin`'s export `function` from `json`, an object with one member per
    /// parameter, named as in the WIT (`{"input": {...}}` for `score`); errors by JSON Pointer.
    pub fn wit_args(
        &self,
        plugin: &LoadedPlugin,
        function: &str,
        json: &Value,
    ) -> Result<Vec<Val>, String> {
        let component = plugin.pre().component();
        let func = component
            .component_type()
            .exports(&self.engine)
            .find_map(|(name, item)| match item.ty {
                ComponentItem::ComponentFunc(f) if name == function => Some(f),
                _ => None,
            })
            .ok_or_else(|| format!("{} exports no function {function}", plugin.manifest().id))?;
        let object = json
            .as_object()
            .ok_or_else(|| format!("/: expected an object with the parameters of {function}"))?;
        let params: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_owned(), t)).collect();
        if let Some(unknown) = object.keys().find(|k| !params.iter().any(|(n, _)| n == *k)) {
            let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "/: unknown parameter {unknown:?}; {function} takes {}",
                names.join(", ")
            ));
        }
        params
            .iter()
            .map(|(name, ty)| {
                let at = format!("/{}", escape(name));
                let value = object.get(name).unwrap_or(&Value::Null);
                to_val(value, ty, &at)
            })
            .collect()
    }

    /// Calls `plugin`'s export `function` with `args` (from [`Runtime::wit_args`]) under the
    /// same budgets, sandbox and report as a typed call, and returns its result as JSON, as the
    /// plugin gave it: not validated or converted as the server would. Its clocks read `now`
    /// (microseconds), its randomness is seeded with `seed`; input and output sizes are those
    /// of their JSON text (`input_bytes`).
    #[allow(clippy::too_many_arguments, reason = "one call's whole description")]
    pub fn call_wit<'a>(
        &self,
        plugin: &LoadedPlugin,
        function: &str,
        args: Vec<Val>,
        input_bytes: u64,
        now_micros: i64,
        seed: u64,
        options: impl Into<CallOptions<'a>>,
    ) -> (Result<Value, PluginFailure>, CallReport) {
        let env = Env {
            det: Determinism { now_micros, seed },
            input_size: input_bytes,
        };
        let (result, usage) = run(
            self,
            plugin.pre(),
            &plugin.manifest().id,
            options.into(),
            env,
            |pre: &WorldPre, store| {
                let instance = pre.instance_pre().instantiate(&mut *store)?;
                let func = instance
                    .get_func(&mut *store, function)
                    .ok_or_else(|| wasmtime::format_err!("no export {function}"))?;
                let mut results = vec![Val::Bool(false); func.ty(&*store).results().len()];
                func.call(&mut *store, &args, &mut results)?;
                Ok(WitOutput(match &results[..] {
                    [one] => to_json(one),
                    many => Value::Array(many.iter().map(to_json).collect()),
                }))
            },
        );
        self.finish(plugin, result.map(|o| o.0), usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_and_kinds_read_well() {
        assert_eq!(escape("a/b~c"), "a~1b~0c");
        assert_eq!(at_or_root(""), "/");
        assert_eq!(kind(&Value::Null), "null");
        assert_eq!(to_json(&Val::Float64(f64::NAN)), Value::from("NaN"));
        assert_eq!(
            to_json(&Val::Float32(f32::NEG_INFINITY)),
            Value::from("-inf")
        );
        assert_eq!(
            to_json(&Val::Result(Err(Some(Box::new(Val::Variant(
                "internal".into(),
                Some(Box::new(Val::String("x".into())))
            )))))),
            serde_json::json!({"err": {"internal": "x"}})
        );
        assert_eq!(
            to_val(&Value::from(300), &Type::U8, "/n").unwrap_err(),
            "/n: expected an integer from 0 to 255, got a number"
        );
        assert!(matches!(
            to_val(&Value::from(-3), &Type::S8, ""),
            Ok(Val::S8(-3))
        ));
        assert!(to_val(&Value::from("ab"), &Type::Char, "").is_err());
    }
}
