"""Data: the image data sets (bundled MNIST, downloaded ones) and the task sequences built from them."""
