"""The app's building blocks: results → figures, images and Streamlit widgets.

No imports here on purpose: `figures` and `texts` are plain plotly/Python and usable from a
notebook without Streamlit; `cache`, `sidebar`, `tiles`,
`widgets` and `guard` draw with Streamlit and are imported by the pages only.

    figures              top-k bars, layer × head attention grid, query picker, position similarity
    attention_views, position_embeddings   shims: moved to vitdemo.explain (remove after the merges)
    texts                every explanatory sentence the app shows
    image_items          uploads and gallery images as bytes + digest
    cache                models per process, explanations per (image, model, class, settings)
    sidebar              the shared model and image choice
    tiles, widgets       map tiles, model loading, class picker, empty states
    guard                errors → one line on the page
    model_facts          a loaded model described in plain words
    runs                 the server's one fine-tuning run manager (created where the app starts)
    timing               server-side timestamps for the classroom benchmark (VITDEMO_TIMING_LOG)
"""
