//! Validation errors: every rule names the field it checks and what it expected.

use std::fmt;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Path of the field, e.g. `email` or `stages[2].probability`.
    pub field: String,
    /// What was expected, in words a person can act on.
    pub expected: String,
}

/// All the fields of one input that failed validation (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The offending fields, in the order they were checked.
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    /// An error about a single field.
    pub fn field(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                expected: expected.into(),
            }],
        }
    }

    /// Prefixes every field path, for errors of a nested value (`stages[1]` + `.name`).
    #[must_use]
    pub fn nested(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.field = if e.field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", e.field)
            };
        }
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: expected {}", e.field, e.expected)?;
        }
        Ok(())
    }
}

/// Collects field errors while a constructor checks its input, so callers get all of them at once.
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    /// Runs `check` and records its error, if any, returning the value on success.
    pub fn take<T>(&mut self, result: Result<T, ValidationError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.extend(e.errors);
                None
            }
        }
    }

    /// Records an error for `field`.
    pub fn fail(&mut self, field: impl Into<String>, expected: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            expected: expected.into(),
        });
    }

    /// Ok when nothing failed.
    pub fn finish(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                errors: self.errors,
            })
        }
    }
}

/// Checks a free-text field: trimmed, non-empty when present, at most `max` characters, no control
/// characters except newlines and tabs in long text.
pub(crate) fn text(
    field: &str,
    value: &str,
    max: usize,
    multiline: bool,
) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ValidationError::field(field, "a non-empty text"));
    }
    if v.chars().count() > max {
        return Err(ValidationError::field(
            field,
            format!("at most {max} characters"),
        ));
    }
    let bad = v
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')));
    if bad {
        return Err(ValidationError::field(
            field,
            "text without control characters",
        ));
    }
    Ok(v.to_owned())
}
