// A configuration that only constant evaluation can refuse is still a compile error.
use breaker_tokio::{circuit, Config, ConfigBuilder, NoWindow};

#[derive(Debug)]
struct E;

const NEVER_OPENS: u32 = 0;

#[circuit(failure_threshold = NEVER_OPENS)]
async fn zero_from_a_constant() -> Result<(), E> { Ok(()) }

const PRESET: ConfigBuilder<NoWindow> = Config::builder().half_open_trials(0);

#[circuit(preset = PRESET)]
fn invalid_preset() -> Result<(), E> { Ok(()) }

fn main() {}
