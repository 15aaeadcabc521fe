"""Errors that carry a message meant for the person at the controls (CLI line, st.error).

A ConfigError is structured: the setting it is about, a message code and the values that fill the message. The
English templates are here (the CLI prints them); the app shows `controls.error.<code>` from its catalogs with
the same values, in the active language, beside the setting's control."""

# English message templates, one per code. Lists in the values are shown comma-separated.
MESSAGES = {
    "unknown_setting": "unknown setting '{value}'; settings are: {choices}",
    "unknown_choice": "unknown '{value}'; choose one of {choices}",
    "not_a_number": "'{value}' is not a valid {kind}",
    "between": "{value} is out of range; it must be at least {low} and at most {high}",
    "greater_than": "{value} is out of range; it must be greater than {low} and at most {high}",
    "empty": "give a value",
    "buffer_needed": "{strategy} replays from a buffer; give a buffer size of at least 1 (e.g. 200)",
    "hidden_not_list": "'{value}' is not a comma-separated list of layer sizes (e.g. 100,100)",
    "hidden_invalid": "{value} is invalid; give 1 or more layer sizes between 1 and 100000",
    "device_unavailable": "{value} is not available on this machine; choose auto or cpu",
    "classes_not_list": "'{value}' is not a comma-separated list of class numbers (write e.g. 0,1|2,3)",
    "classes_empty_task": "empty task in '{value}' (write e.g. 0,1|2,3)",
    "classes_unknown": "{value} do not exist; valid classes are 0..{high}",
    "classes_repeated": "{value} appear in more than one task; each class may appear once",
    "classes_not_split": "{benchmark} tasks all use every class; class groups apply to split benchmarks",
    "tasks_uneven": "{classes} classes cannot be split evenly into {value} tasks; choose one of {choices} "
    "or give class groups",
    "tasks_mismatch": "{value} given but classes '{classes}' define {count} tasks",
    "scenario_unsupported": "{benchmark} supports {choices}, not '{value}'",
    "needs_new_classes": "{strategy} needs tasks that bring new classes, and {benchmark} has none (its tasks, or its "
    "stream, show every class throughout); choose a split benchmark",
    "param_syntax": "'{value}' must look like name=value, e.g. --param reg_weight=2.0",
    "param_unknown": "'{value}' is unknown for strategy {strategy}; its parameters are: {choices}",
    "min_lr_above_max_lr": "{value} is above max_lr {high}; choose min_lr <= max_lr",
    "needs_mlp": "{strategy} works on the MLP (it masks or grows its fully connected layers); choose --model mlp",
    "dualnet_needs_mlp": "{strategy}: its slow and fast learners are built on the MLP's hidden layers; "
    "choose --model mlp",
    "not_cuttable": "{strategy} cannot cut the model {model} into blocks; choose mlp, cnn or resnet18",
    "cut_too_deep": "{value} is deeper than the model's {depth} blocks; choose 0..{depth}",
    "lateral_needs_mlp": "lateral adaptors of {strategy} are implemented for the MLP; set lateral=false for {model}",
    "stream_has_no_tasks": "{benchmark} is one stream without task boundaries; {value} tasks cannot be set: leave the "
    "number of tasks empty",
    "blurry_needs_class_il": "blurry boundaries mix the classes of neighbouring split tasks in Class-IL; {benchmark} "
    "in {scenario} has none to mix: set blurry to 0, or choose a split benchmark in Class-IL",
    "blurry_needs_two_tasks": "blurry boundaries mix neighbouring tasks and a single task has none: set blurry to 0 "
    "or use 2 tasks or more",
}


def show(value) -> str:
    """A message value as text: lists comma-separated, everything else as str()."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


class ConfigError(ValueError):
    """A configuration value is invalid. `setting`: the RunConfig field it is about (`params.<name>` for a
    strategy parameter, "" for none); `code`: its message (MESSAGES); `values`: what fills the message.
    str() is the English line `setting: message`."""

    def __init__(self, setting: str, code: str, **values):
        self.setting, self.code, self.values = setting, code, values
        text = MESSAGES[code].format(**{k: show(v) for k, v in values.items()})
        super().__init__(f"{setting}: {text}" if setting else text)

    def __reduce__(self):  # pickle (a run's error crossing processes) rebuilds it from its fields
        return _restore, (self.setting, self.code, self.values)


def _restore(setting: str, code: str, values: dict) -> ConfigError:
    return ConfigError(setting, code, **values)


def out_of_range(setting: str, value, low, high, low_open: bool = False) -> ConfigError:
    """The error for a number outside [low, high] ((low, high] with low_open)."""
    return ConfigError(setting, "greater_than" if low_open else "between", value=value, low=low, high=high)


class DataUnavailable(RuntimeError):
    """A data set is not on disk and could not be downloaded; the message says what to do."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite; the run stops and keeps its results so far."""
