"""vitdemo: see how Vision Transformers and ResNets see images."""
