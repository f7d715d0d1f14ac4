"""One run on many processes or machines: Ape-X collection on Ray actors feeding one learner."""
