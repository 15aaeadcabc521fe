"""The Compare page's parts (the page itself, its sections and `page()`, is pages/compare.py):

- runs: this session's workspace's runs as the page lists them (Entry), and their full results;
- knobs: the settings of runs side by side (which differ) and "change one knob" (a base config with one changed);
- figures: the overlaid curves, the metrics table with the differing settings highlighted, the runs table and
  the accuracy matrix as CSV;
- grid: the grid runner (strategies x buffers x seeds): one run after another through the run queue, or sent to
  the sweep executor (clcore.sweep, Ray) in parallel.

Every visible text comes from the string catalogs (pages/shared/i18n.py, table `compare`)."""
