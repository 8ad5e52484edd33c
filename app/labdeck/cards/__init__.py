"""Model cards: assembling the facts of a model version and rendering them (md, html, json; pdf in ui/)."""
