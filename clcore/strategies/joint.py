from clcore.strategies.base import register
from clcore.strategies.finetune import Finetune


@register
class Joint(Finetune):
    name = "joint"
    title = "Joint training (upper bound)"
    summary = "All tasks' data shuffled together and trained once with the same epochs: the offline upper bound."
    trains_offline = True
