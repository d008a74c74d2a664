# demovae: group-level training and its downstream rules (brainpipe.models).
