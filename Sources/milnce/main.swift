import MILNCE
print("milnce")
