"""Experience replay: array storage, uniform and prioritized samplers, the sum tree, the buffer that composes them."""
