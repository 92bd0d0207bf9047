"""Where processed media lives: a port (`base.MediaStore`) with a local-directory and an S3
adapter."""
