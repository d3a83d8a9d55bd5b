//! `-o human|json|yaml`: people get tables and views, scripts get the same data as JSON/YAML.

use std::io::Write;

use clap::ValueEnum;
use serde::Serialize;

use super::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Human,
    Json,
    Yaml,
}

impl Output {
    /// `human` for people; the data itself for scripts.
    pub fn render<T: Serialize>(
        self,
        data: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<String, CliError> {
        match self {
            Output::Human => Ok(human(data)),
            Output::Json => serde_json::to_string_pretty(data)
                .map(|s| s + "\n")
                .map_err(|e| CliError::Encode(e.to_string())),
            Output::Yaml => {
                serde_norway::to_string(data).map_err(|e| CliError::Encode(e.to_string()))
            }
        }
    }

    /// Renders and prints to stdout.
    pub fn print<T: Serialize>(
        self,
        data: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<(), CliError> {
        let text = self.render(data, human)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }
}
