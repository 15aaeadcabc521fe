"""Code shared by the app's pages: session state and runs (session), plotly figures (charts),
the Playground's controls and URL state (controls) and its lecture presets (presets)."""
